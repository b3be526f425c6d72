"""Training: distillation runs (teacher → student) with live loss curves, and layer-streaming passes."""

from app.panels.registry import register_panel

register_panel("training", title="Training", icon="training", order=40,
               factory="app.panels.training.panel:TrainingPanel",
               description="Distil teacher models into a student (new runs, live loss curves, pause, resume, "
                           "results), and stream models larger than memory layer by layer.")

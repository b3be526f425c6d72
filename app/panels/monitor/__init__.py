"""Live GPU / CPU / RAM monitor."""

from app.panels.registry import register_panel

register_panel("monitor", title="Monitor", icon="monitor", order=90,
               factory="app.panels.monitor.panel:MonitorPanel",
               description="Live VRAM, utilisation, temperature, power, per-process GPU memory, CPU and RAM.")

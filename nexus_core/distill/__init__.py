"""Distillation: teacher(s) → student with weighted logit/hidden-state/label losses and sticky, resumable runs."""

"""Self-evolution: the co-evolution loop's switch and budget, template versions, build success, failures."""

from app.panels.registry import register_panel

register_panel("evolution", title="Evolution", icon="evolution", order=35,
               factory="app.panels.evolution.panel:EvolutionPanel",
               description="The co-evolution loop: template versions, build success rate over time, failure "
                           "categories, challenges; switch it on and set its daily budget.")

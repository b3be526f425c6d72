"""Media: speech, pictures and videos made as jobs, with live previews, cancel, and a gallery to play, re-run
and open what was made."""

from app.panels.registry import register_panel

register_panel("media", title="Media", icon="media", order=50, factory="app.panels.media.panel:MediaPanel",
               description="Text to speech (espeak-ng, neural voices, cloned voices), image generation and "
                           "image-to-video on local models; a gallery of results with their settings.")

"""The chat pane's own look, on top of the app theme's colours."""

from __future__ import annotations

from app.theme import colours

_OK = {"light": "#1a7f37", "dark": "#56d364"}
_ERROR = {"light": ("#fdecea", "#8a1c1c", "#f3b8b3"), "dark": ("#3b1d1d", "#f5b4b4", "#6b2b2b")}


def stylesheet(theme: str) -> str:
    c = colours(theme)
    error_bg, error_fg, error_border = _ERROR["dark" if theme == "dark" else "light"]
    ok = _OK["dark" if theme == "dark" else "light"]
    return f"""
    QWidget#chatMessages {{ background: {c['base']}; }}
    QFrame#chatUser {{ background: {c['alt']}; border: 1px solid {c['border']}; border-radius: 8px; }}
    QFrame#chatAnswer {{ background: {c['base']}; border: 1px solid {c['border']}; border-radius: 8px; }}
    QLabel#chatRole {{ font-weight: 600; }}
    QLabel#chatTitle {{ font-size: 16px; font-weight: 600; }}
    QLabel#chatFooter {{ color: {c['muted']}; font-size: 11px; }}
    QLabel#chatIncomplete {{ color: {c['banner_fg']}; background: {c['banner_bg']};
        border: 1px solid {c['banner_border']}; border-radius: 4px; padding: 4px 8px; }}
    QLabel#chatError {{ color: {error_fg}; background: {error_bg}; border: 1px solid {error_border};
        border-radius: 4px; padding: 6px 8px; }}
    QFrame#toolCard {{ background: {c['alt']}; border: 1px solid {c['border']}; border-radius: 6px; }}
    QToolButton#toolToggle {{ font-family: monospace; text-align: left; }}
    QLabel#toolCaption {{ color: {c['muted']}; font-size: 11px; }}
    QLabel#toolStatus {{ color: {c['muted']}; }}
    QLabel#toolStatus[state="ok"] {{ color: {ok}; }}
    QLabel#toolStatus[state="failed"] {{ color: {error_fg}; }}
    QLabel#toolStatus[state="denied"] {{ color: {c['banner_fg']}; }}
    QLabel#approvalHeading {{ font-size: 14px; font-weight: 600; }}
    QLabel#approvalCommand {{ font-size: 14px; background: {c['alt']}; border: 1px solid {c['border']};
        border-radius: 4px; padding: 6px 8px; }}
    QFrame#chatNotice {{ border-radius: 6px; margin: 0 16px; }}
    QFrame#chatNotice[kind="problem"] {{ color: {error_fg}; background: {error_bg}; border: 1px solid {error_border}; }}
    QFrame#chatNotice[kind="info"] {{ background: {c['alt']}; border: 1px solid {c['border']}; }}
    """

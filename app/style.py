"""The look: Fusion with a dark palette (images read better on dark grey) and a few accents."""
from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

STYLESHEET = """
QMainWindow::separator { width: 1px; height: 1px; background: #1e1f22; }
QDockWidget::title { padding: 6px 8px; background: #2b2d31; font-weight: 600; }
QListWidget { background: #232428; border: 1px solid #1e1f22; border-radius: 4px; }
QListWidget::item { padding: 2px; }
QListWidget::item:selected { background: #3b5b8f; }
QLineEdit { padding: 5px 6px; border: 1px solid #44464d; border-radius: 4px; background: #1e1f22; }
QLineEdit:focus { border-color: #5b8def; }
QLabel#classMessage { padding: 6px; border-radius: 4px; }
QLabel#classMessage[kind="error"] { background: #4a2326; color: #ffb4b4; border: 1px solid #8c3a3f; }
QLabel#classMessage[kind="info"] { background: #23324a; color: #c8dcff; border: 1px solid #3b5b8f; }
QLabel#classBadge { padding: 0px 5px; border-radius: 7px; font-size: 10px; }
QLabel#classBadge[seen="yes"] { background: #1f5130; color: #a8e6b8; }
QLabel#classBadge[seen="no"] { background: #5a4215; color: #ffd88a; }
QLabel#classBadge[seen="warn"] { background: #6b1f1f; color: #ffb3b3; }
QLabel#classBadge[seen="found"] { background: #1f5130; color: #a8e6b8; }
QLabel#classBadge[seen="low"] { background: #5a4215; color: #ffd88a; }
QLabel#classBadge[seen="none"] { background: #3a3d42; color: #b8bcc2; }
QLabel#classCount { color: #9aa0a6; font-size: 11px; }
QLabel#fileSummary { color: #9aa0a6; }
QLabel#statusMessage[kind="error"] { color: #ff8a80; }
QLabel#statusEngine, QLabel#statusTimings { color: #9aa0a6; padding: 0 6px; }
QToolBar { spacing: 4px; padding: 3px; border: none; background: #2b2d31; }
QToolButton { padding: 3px 6px; border-radius: 4px; }
QToolButton:hover { background: #3a3c42; }
QToolButton:checked { background: #3b5b8f; }
QStatusBar { background: #2b2d31; }
QProgressBar { border: 1px solid #44464d; border-radius: 4px; text-align: center; max-height: 14px; }
QProgressBar::chunk { background: #5b8def; border-radius: 3px; }
"""


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    base = QColor(35, 36, 40)
    window = QColor(43, 45, 49)
    text = QColor(225, 227, 230)
    palette.setColor(QPalette.ColorRole.Window, window)
    palette.setColor(QPalette.ColorRole.WindowText, text)
    palette.setColor(QPalette.ColorRole.Base, base)
    palette.setColor(QPalette.ColorRole.AlternateBase, window)
    palette.setColor(QPalette.ColorRole.ToolTipBase, QColor(30, 31, 34))
    palette.setColor(QPalette.ColorRole.ToolTipText, text)
    palette.setColor(QPalette.ColorRole.Text, text)
    palette.setColor(QPalette.ColorRole.Button, window)
    palette.setColor(QPalette.ColorRole.ButtonText, text)
    palette.setColor(QPalette.ColorRole.Highlight, QColor(59, 91, 143))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    palette.setColor(QPalette.ColorRole.Link, QColor(138, 180, 248))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor(130, 134, 140))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(110, 112, 118))
    app.setPalette(palette)
    app.setStyleSheet(STYLESHEET)

"""The annotation session: the one API the GUI and ``zs3 segment`` share (Qt-free, thread-safe)."""
from core.session.prior import PriorConfig
from core.session.session import Session, SessionConfig
from core.session.types import ClassStatus, FitReport, Prediction

__all__ = ["Session", "SessionConfig", "ClassStatus", "FitReport", "Prediction", "PriorConfig"]

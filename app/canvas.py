"""The image canvas: photo + mask overlay on a QGraphicsView, zoom, pan and the brush.

The canvas knows pixels, not classes: it shows the QImages it is given, reports the image pixel
under the cursor, and hands a finished brush stroke back as a boolean mask. What a stroke means
(which class, undo, saving, refit) is the controller's business.
"""
from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QFrame,
    QGraphicsEllipseItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QLineEdit,
)

MIN_SCALE = 0.02
MAX_SCALE = 64.0
ZOOM_STEP = 1.25


class Canvas(QGraphicsView):
    """Wheel zooms around the cursor; space-drag or middle-drag pans; left-drag paints."""

    hovered = Signal(int, int)                 # image pixel under the cursor, (-1, -1) outside
    stroke_finished = Signal(object)           # H×W bool numpy mask of the stroke
    zoom_changed = Signal(float)
    brush_size_changed = Signal(int)
    files_dropped = Signal(list)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QBrush(QColor(38, 40, 44)))
        # Pixel-exact at high zoom: no smoothing anywhere.
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setMouseTracking(True)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self._image_item = QGraphicsPixmapItem()
        self._image_item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self._overlay_item = QGraphicsPixmapItem()
        self._overlay_item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self._overlay_item.setZValue(1)
        self._stroke_item = QGraphicsPixmapItem()
        self._stroke_item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self._stroke_item.setZValue(2)
        self._stroke_item.setOpacity(0.75)
        self._cursor_item = QGraphicsEllipseItem()
        self._cursor_item.setZValue(3)
        pen = QPen(QColor(255, 255, 255, 220))
        pen.setCosmetic(True)
        pen.setWidth(1)
        self._cursor_item.setPen(pen)
        self._cursor_item.setVisible(False)
        for item in (self._image_item, self._overlay_item, self._stroke_item, self._cursor_item):
            self.scene().addItem(item)

        self._shape: tuple[int, int] | None = None
        self._opacity = 0.55
        self._overlay_visible = True
        self.brush_size = 15
        self.brush_color = QColor(255, 0, 0)
        self.brush_enabled = True
        self._space_down = False
        self._panning = False
        self._pan_last = None
        self._stroke: np.ndarray | None = None
        self._stroke_image: QImage | None = None
        self._stroke_last: tuple[int, int] | None = None
        self._user_zoomed = False

    # -- content -----------------------------------------------------------------------------
    @property
    def image_shape(self) -> tuple[int, int] | None:
        return self._shape

    def set_image(self, image: QImage | None) -> None:
        """Show a new photo (clears the overlay) and fit it to the window."""
        self._cancel_stroke()
        if image is None or image.isNull():
            self._image_item.setPixmap(QPixmap())
            self._overlay_item.setPixmap(QPixmap())
            self._shape = None
            return
        self._image_item.setPixmap(QPixmap.fromImage(image))
        self._overlay_item.setPixmap(QPixmap())
        self._shape = (image.height(), image.width())
        self.scene().setSceneRect(QRectF(0, 0, image.width(), image.height()))
        self._user_zoomed = False
        self.fit_to_window()

    def set_overlay(self, overlay: QImage | None) -> None:
        self._overlay_item.setPixmap(QPixmap() if overlay is None else QPixmap.fromImage(overlay))
        self._apply_overlay_opacity()

    def overlay_image(self) -> QImage:
        return self._overlay_item.pixmap().toImage()

    def set_overlay_opacity(self, opacity: float) -> None:
        self._opacity = max(0.0, min(1.0, float(opacity)))
        self._apply_overlay_opacity()

    def set_overlay_visible(self, visible: bool) -> None:
        self._overlay_visible = bool(visible)
        self._apply_overlay_opacity()

    @property
    def overlay_visible(self) -> bool:
        return self._overlay_visible

    def _apply_overlay_opacity(self) -> None:
        self._overlay_item.setOpacity(self._opacity if self._overlay_visible else 0.0)

    def drawForeground(self, painter: QPainter, rect) -> None:  # noqa: N802
        """Empty state: say what to do instead of showing a blank grey area."""
        super().drawForeground(painter, rect)
        if self._shape is not None:
            return
        painter.save()
        painter.resetTransform()
        painter.setPen(QColor(150, 154, 160))
        font = painter.font()
        font.setPointSize(font.pointSize() + 3)
        painter.setFont(font)
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter,
                         "Drop images or a folder here\nor open them with Ctrl+O / Ctrl+Shift+O")
        painter.restore()

    # -- zoom --------------------------------------------------------------------------------
    @property
    def scale_factor(self) -> float:
        return self.transform().m11()

    def fit_to_window(self) -> None:
        if self._shape is None:
            return
        self.fitInView(self._image_item, Qt.AspectRatioMode.KeepAspectRatio)
        self._user_zoomed = False
        self.zoom_changed.emit(self.scale_factor)

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def set_zoom(self, scale: float) -> None:
        scale = max(MIN_SCALE, min(MAX_SCALE, scale))
        self.setTransform(self.transform().fromScale(scale, scale))
        self._user_zoomed = True
        self.zoom_changed.emit(self.scale_factor)

    def zoom_by(self, factor: float, anchor: QPoint | None = None) -> None:
        """Zoom by ``factor``, keeping the image point under ``anchor`` (view pixels) in place."""
        target = max(MIN_SCALE, min(MAX_SCALE, self.scale_factor * factor))
        factor = target / self.scale_factor
        if anchor is None:
            anchor = self.viewport().rect().center()
        before = self.mapToScene(anchor)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.scale(factor, factor)
        after = self.mapToScene(anchor)
        self.translate(after.x() - before.x(), after.y() - before.y())
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self._user_zoomed = True
        self.zoom_changed.emit(self.scale_factor)

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt API
        delta = event.angleDelta().y()
        if delta == 0:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.set_brush_size(self.brush_size + (2 if delta > 0 else -2))
            return
        self.zoom_by(ZOOM_STEP ** (delta / 120.0), event.position().toPoint())

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if not self._user_zoomed:
            self.fit_to_window()

    # -- brush -------------------------------------------------------------------------------
    def set_brush_size(self, size: int) -> None:
        size = int(max(1, min(500, size)))
        if size != self.brush_size:
            self.brush_size = size
            self.brush_size_changed.emit(size)
        self._update_cursor(None)

    def set_brush_color(self, color: QColor) -> None:
        self.brush_color = QColor(color)

    def image_pos(self, view_pos) -> tuple[int, int]:
        scene = self.mapToScene(view_pos)
        return int(np.floor(scene.x())), int(np.floor(scene.y()))

    def _inside(self, x: int, y: int) -> bool:
        return self._shape is not None and 0 <= x < self._shape[1] and 0 <= y < self._shape[0]

    def begin_stroke(self, x: int, y: int) -> None:
        if self._shape is None:
            return
        height, width = self._shape
        self._stroke = np.zeros((height, width), dtype=np.uint8)
        self._stroke_image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
        self._stroke_image.fill(Qt.GlobalColor.transparent)
        self._stroke_last = (x, y)
        self._paint_segment(x, y, x, y)

    def extend_stroke(self, x: int, y: int) -> None:
        if self._stroke is None or self._stroke_last is None:
            return
        x0, y0 = self._stroke_last
        self._paint_segment(x0, y0, x, y)
        self._stroke_last = (x, y)

    def end_stroke(self) -> np.ndarray | None:
        """Finish the stroke; emits and returns its mask (None if it touched no pixel)."""
        stroke = self._stroke
        self._cancel_stroke()
        if stroke is None or not stroke.any():
            return None
        mask = stroke.astype(bool)
        self.stroke_finished.emit(mask)
        return mask

    def paint_stroke(self, points: list[tuple[int, int]]) -> np.ndarray | None:
        """Paint a whole stroke through image pixels (what a mouse drag does; used by scripts)."""
        if not points:
            return None
        self.begin_stroke(*points[0])
        for x, y in points[1:]:
            self.extend_stroke(x, y)
        return self.end_stroke()

    def _cancel_stroke(self) -> None:
        self._stroke = None
        self._stroke_image = None
        self._stroke_last = None
        self._stroke_item.setPixmap(QPixmap())

    def _paint_segment(self, x0: int, y0: int, x1: int, y1: int) -> None:
        radius = max(0, self.brush_size // 2)
        if self.brush_size <= 1:
            cv2.line(self._stroke, (x0, y0), (x1, y1), 1, 1)
        else:
            cv2.line(self._stroke, (x0, y0), (x1, y1), 1, thickness=2 * radius + 1)
            cv2.circle(self._stroke, (x1, y1), radius, 1, thickness=-1)
            cv2.circle(self._stroke, (x0, y0), radius, 1, thickness=-1)
        # Preview: the same pixels, coloured, without smoothing.
        ys0, ys1 = max(0, min(y0, y1) - radius - 1), min(self._shape[0], max(y0, y1) + radius + 2)
        xs0, xs1 = max(0, min(x0, x1) - radius - 1), min(self._shape[1], max(x0, x1) + radius + 2)
        if ys1 <= ys0 or xs1 <= xs0:
            return
        patch = self._stroke[ys0:ys1, xs0:xs1]
        rgba = np.zeros(patch.shape + (4,), dtype=np.uint8)
        color = self.brush_color
        rgba[patch > 0] = (color.red(), color.green(), color.blue(), 255)
        patch_image = QImage(np.ascontiguousarray(rgba).data, rgba.shape[1], rgba.shape[0],
                             rgba.shape[1] * 4, QImage.Format.Format_RGBA8888).copy()
        painter = QPainter(self._stroke_image)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(xs0, ys0, patch_image)
        painter.end()
        self._stroke_item.setPixmap(QPixmap.fromImage(self._stroke_image))

    def _update_cursor(self, scene_pos: QPointF | None) -> None:
        if scene_pos is None:
            scene_pos = self._cursor_item.rect().center()
        radius = self.brush_size / 2.0
        self._cursor_item.setRect(QRectF(scene_pos.x() - radius, scene_pos.y() - radius, 2 * radius, 2 * radius))

    # -- mouse and keys ----------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space_down
        ):
            self._panning = True
            self._pan_last = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if event.button() == Qt.MouseButton.LeftButton and self.brush_enabled:
            x, y = self.image_pos(event.position().toPoint())
            if self._inside(x, y):
                self.begin_stroke(x, y)
                return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._panning and self._pan_last is not None:
            delta = event.position() - self._pan_last
            self._pan_last = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            return
        x, y = self.image_pos(event.position().toPoint())
        scene_pos = self.mapToScene(event.position().toPoint())
        self._update_cursor(scene_pos)
        self._cursor_item.setVisible(self.brush_enabled and self._shape is not None and not self._space_down)
        if self._stroke is not None:
            height, width = self._shape
            self.extend_stroke(min(max(x, 0), width - 1), min(max(y, 0), height - 1))
        self.hovered.emit(*(x, y) if self._inside(x, y) else (-1, -1))
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._panning and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._panning = False
            self._pan_last = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space_down else Qt.CursorShape.ArrowCursor)
            return
        if event.button() == Qt.MouseButton.LeftButton and self._stroke is not None:
            self.end_stroke()
            return
        super().mouseReleaseEvent(event)

    def enterEvent(self, event) -> None:  # noqa: N802
        # Take the keyboard (space-to-pan) when the pointer arrives, unless the user is typing.
        focused = QApplication.focusWidget()
        if not isinstance(focused, (QLineEdit, QAbstractSpinBox)):
            self.setFocus(Qt.FocusReason.MouseFocusReason)
        super().enterEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: N802
        self._cursor_item.setVisible(False)
        self.hovered.emit(-1, -1)
        super().leaveEvent(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            self._cursor_item.setVisible(False)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            return
        super().keyReleaseEvent(event)

    # -- drag and drop -----------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.files_dropped.emit(paths)
        else:
            super().dropEvent(event)

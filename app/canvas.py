"""The image canvas: photo + mask overlay on a QGraphicsView, zoom, pan, the brush and the tools.

The canvas knows pixels, not classes: it shows the arrays it is given (drawn at screen resolution
by :mod:`app.canvas_items`), reports the image pixel under the cursor, and hands back what the
user drew: a brush stroke or a closed polygon as a boolean mask, a box, or a clicked point for
the fill / pick / object tools. What that means (which class, undo, saving, refit) is the
controller's business.
"""
from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QFrame,
    QGraphicsEllipseItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QLineEdit,
)

from app.canvas_items import LabelItem, MaskItem, PhotoItem, set_item_cache

MIN_SCALE = 0.02
MAX_SCALE = 64.0
ZOOM_STEP = 1.25
TOOLS = ("brush", "polygon", "box", "fill", "pick", "object")
CLOSE_DISTANCE_PX = 8  # a polygon click this close (on screen) to its first vertex closes it


def qimage_to_rgb(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    return data.reshape(image.height(), image.bytesPerLine())[:, : image.width() * 3].reshape(
        image.height(), image.width(), 3).copy()


class Canvas(QGraphicsView):
    """Wheel zooms around the cursor; space-drag or middle-drag pans; left-drag paints."""

    hovered = Signal(int, int)                 # image pixel under the cursor, (-1, -1) outside
    stroke_finished = Signal(object)           # H×W bool numpy mask of the stroke
    polygon_finished = Signal(object)          # H×W bool numpy mask inside the closed polygon
    box_finished = Signal(int, int, int, int)  # x0, y0, x1, y1 (image pixels, exclusive ends)
    point_clicked = Signal(str, int, int)      # tool ("fill" | "pick" | "object"), x, y
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

        self._image_item = PhotoItem()
        self._overlay_item = LabelItem()
        self._overlay_item.setZValue(1)
        self._stroke_item = MaskItem()
        self._stroke_item.setZValue(2)
        self._stroke_item.setOpacity(0.75)
        for item in (self._image_item, self._overlay_item, self._stroke_item):
            set_item_cache(item)
        self._shape_item = QGraphicsPathItem()     # polygon / box being drawn
        self._shape_item.setZValue(4)
        shape_pen = QPen(QColor(255, 214, 0), 2)   # visible on photos and on every class colour
        shape_pen.setCosmetic(True)
        shape_pen.setStyle(Qt.PenStyle.DashLine)
        self._shape_item.setPen(shape_pen)
        self._cursor_item = QGraphicsEllipseItem()
        self._cursor_item.setZValue(3)
        pen = QPen(QColor(255, 255, 255, 220))
        pen.setCosmetic(True)
        pen.setWidth(1)
        self._cursor_item.setPen(pen)
        self._cursor_item.setVisible(False)
        for item in (self._image_item, self._overlay_item, self._stroke_item, self._cursor_item, self._shape_item):
            self.scene().addItem(item)
        self.tool = "brush"
        self._polygon: list[tuple[int, int]] = []
        self._box_start: tuple[int, int] | None = None
        self._box_end: tuple[int, int] | None = None

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
        self._stroke_last: tuple[int, int] | None = None
        self._user_zoomed = False

    # -- content -----------------------------------------------------------------------------
    @property
    def image_shape(self) -> tuple[int, int] | None:
        return self._shape

    def set_image(self, image: np.ndarray | QImage | None, shape: tuple[int, int] | None = None) -> None:
        """Show a new photo (an H×W×3 RGB array, kept without a copy; clears the overlay) and fit it.

        ``shape``: the photo's full-resolution (H, W) when ``image`` is a reduced preview of it
        (see :meth:`replace_photo`); the scene, strokes and shapes are in those pixels.
        """
        self._cancel_stroke()
        self.cancel_shape()
        if isinstance(image, QImage):
            image = None if image.isNull() else qimage_to_rgb(image)
        self._overlay_item.set_labels(None)
        if image is None:
            self._image_item.set_rgb(None)
            self._shape = None
            self.viewport().update()
            return
        self._shape = tuple(shape or image.shape[:2])
        self._image_item.set_rgb(image, self._shape)
        self.scene().setSceneRect(QRectF(0, 0, self._shape[1], self._shape[0]))
        self._user_zoomed = False
        self.fit_to_window()

    def replace_photo(self, image: np.ndarray) -> None:
        """Swap the preview for the full-resolution photo of the same image: zoom, pan, the overlay
        and a stroke or shape in progress all stay (they are in full-resolution pixels already)."""
        if self._shape is None or tuple(image.shape[:2]) != self._shape:
            raise ValueError(f"photo of shape {image.shape[:2]} for an image of shape {self._shape}")
        self._image_item.set_rgb(image)
        self.viewport().update()

    @property
    def photo_is_preview(self) -> bool:
        """True while the canvas shows a reduced preview of the photo."""
        return self._image_item.factor > 1

    def set_labels(self, labels: np.ndarray | None, lut: np.ndarray | None = None) -> None:
        """Show a label map (H×W uint8) coloured by ``lut`` (256×4 RGBA) over the photo."""
        self._overlay_item.set_labels(labels, lut)
        self._apply_overlay_opacity()

    def set_outline(self, on: bool) -> None:
        self._overlay_item.set_outline(on)
        self._apply_overlay_opacity()

    def overlay_image(self) -> QImage:
        return self._overlay_item.to_qimage()

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
        # Outlines cover little of the photo: drawn opaque so that a thin line stays visible.
        opacity = 1.0 if self._overlay_item.outline else self._opacity
        self._overlay_item.setOpacity(opacity if self._overlay_visible else 0.0)

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
        self.fitInView(self._image_item.boundingRect(), Qt.AspectRatioMode.KeepAspectRatio)
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
        self._stroke = np.zeros(self._shape, dtype=np.uint8)
        self._stroke_item.set_mask(self._stroke, self.brush_color)
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
        self._stroke_last = None
        self._stroke_item.set_mask(None)

    def _paint_segment(self, x0: int, y0: int, x1: int, y1: int) -> None:
        radius = max(0, self.brush_size // 2)
        if self.brush_size <= 1:
            cv2.line(self._stroke, (x0, y0), (x1, y1), 1, 1)
        else:
            cv2.line(self._stroke, (x0, y0), (x1, y1), 1, thickness=2 * radius + 1)
            cv2.circle(self._stroke, (x1, y1), radius, 1, thickness=-1)
            cv2.circle(self._stroke, (x0, y0), radius, 1, thickness=-1)
        # Preview: repaint only the rectangle this segment touched (at screen resolution).
        self._stroke_item.touch(min(x0, x1) - radius - 1, min(y0, y1) - radius - 1,
                                max(x0, x1) + radius + 2, max(y0, y1) + radius + 2)

    # -- polygon, box and point tools ------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self._cancel_stroke()
        self.cancel_shape()
        self.tool = tool
        self.brush_enabled = tool == "brush"
        self.viewport().setCursor(Qt.CursorShape.ArrowCursor if tool == "brush" else Qt.CursorShape.CrossCursor)

    @property
    def drawing_shape(self) -> bool:
        return bool(self._polygon) or self._box_start is not None

    def cancel_shape(self) -> None:
        self._polygon = []
        self._box_start = self._box_end = None
        self._shape_item.setPath(QPainterPath())

    def add_polygon_point(self, x: int, y: int) -> np.ndarray | None:
        """Add a vertex; a click near the first vertex closes the polygon (returns its mask)."""
        if self._shape is None:
            return None
        if len(self._polygon) >= 3:
            first = self.mapFromScene(QPointF(self._polygon[0][0] + 0.5, self._polygon[0][1] + 0.5))
            here = self.mapFromScene(QPointF(x + 0.5, y + 0.5))
            if (first - here).manhattanLength() <= CLOSE_DISTANCE_PX:
                return self.finish_polygon()
        self._polygon.append((int(x), int(y)))
        self._draw_polygon(None)
        return None

    def finish_polygon(self) -> np.ndarray | None:
        """Close the polygon: emit and return the mask of the pixels inside it (and on its edge)."""
        points = self._polygon
        self.cancel_shape()
        if len(points) < 3 or self._shape is None:
            return None
        mask = np.zeros(self._shape, np.uint8)
        cv2.fillPoly(mask, [np.array(points, np.int32)], 1)
        mask = mask.astype(bool)
        self.polygon_finished.emit(mask)
        return mask

    def draw_polygon(self, points: list[tuple[int, int]]) -> np.ndarray | None:
        """Click every vertex of a polygon, then close it (what the mouse does; used by scripts)."""
        for x, y in points:
            self.add_polygon_point(x, y)
        return self.finish_polygon()

    def _draw_polygon(self, cursor: tuple[int, int] | None) -> None:
        path = QPainterPath()
        points = self._polygon + ([cursor] if cursor is not None else [])
        if points:
            path.moveTo(points[0][0] + 0.5, points[0][1] + 0.5)
            for x, y in points[1:]:
                path.lineTo(x + 0.5, y + 0.5)
        radius = 3.0 / max(self.scale_factor, 1e-6)  # vertex marks of about 6 screen pixels
        for x, y in self._polygon:
            path.addEllipse(QPointF(x + 0.5, y + 0.5), radius, radius)
        self._shape_item.setPath(path)

    def drag_box(self, x0: int, y0: int, x1: int, y1: int) -> tuple[int, int, int, int] | None:
        """Drag a box from one corner to the other (what the mouse does; used by scripts)."""
        self._box_start = (x0, y0)
        self._box_end = (x1, y1)
        return self.end_box()

    def end_box(self) -> tuple[int, int, int, int] | None:
        start, end = self._box_start, self._box_end
        self.cancel_shape()
        if start is None or end is None or self._shape is None:
            return None
        height, width = self._shape
        x0, x1 = sorted((max(0, min(width - 1, start[0])), max(0, min(width - 1, end[0]))))
        y0, y1 = sorted((max(0, min(height - 1, start[1])), max(0, min(height - 1, end[1]))))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None  # a click, not a box
        box = (x0, y0, x1 + 1, y1 + 1)
        self.box_finished.emit(*box)
        return box

    def _draw_box(self) -> None:
        path = QPainterPath()
        if self._box_start is not None and self._box_end is not None:
            (x0, y0), (x1, y1) = self._box_start, self._box_end
            path.addRect(QRectF(min(x0, x1), min(y0, y1), abs(x1 - x0) + 1, abs(y1 - y0) + 1))
        self._shape_item.setPath(path)

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
        if event.button() == Qt.MouseButton.LeftButton:
            x, y = self.image_pos(event.position().toPoint())
            if self._inside(x, y):
                if self.tool == "brush" and self.brush_enabled:
                    self.begin_stroke(x, y)
                elif self.tool == "polygon":
                    self.add_polygon_point(x, y)
                elif self.tool == "box":
                    self._box_start = self._box_end = (x, y)
                    self._draw_box()
                elif self.tool in ("fill", "pick", "object"):
                    self.point_clicked.emit(self.tool, x, y)
                return
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        if self.tool == "polygon" and event.button() == Qt.MouseButton.LeftButton:
            self.finish_polygon()
            return
        super().mouseDoubleClickEvent(event)

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
        elif self._box_start is not None:
            self._box_end = (x, y)
            self._draw_box()
        elif self._polygon:
            self._draw_polygon((x, y))
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
        if event.button() == Qt.MouseButton.LeftButton and self._box_start is not None:
            self._box_end = self.image_pos(event.position().toPoint())
            self.end_box()
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

    def event(self, event) -> bool:
        """While a polygon is drawn, Esc cancels it instead of the window's Cancel Job."""
        if event.type() == event.Type.ShortcutOverride and self.drawing_shape and event.key() in (
                Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Backspace):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if self._polygon and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.finish_polygon()
            return
        if self._polygon and event.key() == Qt.Key.Key_Backspace:
            self._polygon.pop()
            self._draw_polygon(None)
            return
        if self.drawing_shape and event.key() == Qt.Key.Key_Escape:
            self.cancel_shape()
            return
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

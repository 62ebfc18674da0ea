"""Every keyboard shortcut in one table: the main window binds them, the help dialog (F1) lists them."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shortcut:
    action: str      # name of the QAction in the main window
    keys: str        # QKeySequence text
    text: str        # what it does, for the help dialog


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("open_images", "Ctrl+O", "Open images"),
    Shortcut("open_folder", "Ctrl+Shift+O", "Open a folder of images"),
    Shortcut("open_project", "Ctrl+Alt+O", "Open a project (zs3project.json)"),
    Shortcut("save_project", "Ctrl+S", "Save the project now (it also autosaves after every change)"),
    Shortcut("export", "Ctrl+E", "Export label maps"),
    Shortcut("next_image", "D", "Next image"),
    Shortcut("prev_image", "A", "Previous image"),
    Shortcut("mark_reviewed", "R", "Mark the image as reviewed (or not)"),
    Shortcut("undo", "Ctrl+Z", "Undo the last edit of this image (or the last class delete / merge)"),
    Shortcut("redo", "Ctrl+Shift+Z", "Redo on this image"),
    Shortcut("toggle_overlay", "M", "Show / hide the mask overlay"),
    Shortcut("view_labels", "L", "View: filled masks (labels)"),
    Shortcut("view_outline", "O", "View: mask outlines only"),
    Shortcut("view_confidence", "H", "View: confidence heat map (grey = below the export threshold)"),
    Shortcut("tool_brush", "B", "Tool: brush (drag to paint)"),
    Shortcut("tool_polygon", "P", "Tool: polygon (click corners; double-click / Enter closes, Esc cancels)"),
    Shortcut("tool_box", "X", "Tool: box → object mask (drag a box around one object)"),
    Shortcut("tool_object", "C", "Tool: click → object mask"),
    Shortcut("tool_fill", "G", "Tool: flood fill the clicked region"),
    Shortcut("tool_pick", "I", "Tool: pick the class under the cursor"),
    Shortcut("fill_holes", "Shift+G", "Fill the holes of the selected class"),
    Shortcut("opacity_up", "Shift+M", "More opaque overlay"),
    Shortcut("brush_bigger", "]", "Bigger brush (also Ctrl+wheel)"),
    Shortcut("brush_smaller", "[", "Smaller brush"),
    Shortcut("eraser", "E", "Eraser (paint 255 = unlabelled)"),
    Shortcut("fit_window", "F", "Fit the image to the window"),
    Shortcut("actual_size", "Ctrl+1", "Zoom to 100 % (pixel-exact)"),
    Shortcut("zoom_in", "Ctrl++", "Zoom in (also the wheel, around the cursor)"),
    Shortcut("zoom_out", "Ctrl+-", "Zoom out"),
    Shortcut("add_class", "Ctrl+N", "Type a new class name (Enter adds it, Esc leaves the field)"),
    Shortcut("rename_class", "F2", "Rename the selected class (a name in use offers a merge)"),
    Shortcut("delete_class", "Del", "Delete the selected class (in the class list; asks first)"),
    Shortcut("refit", "Ctrl+R", "Retrain the classifier and re-label the image"),
    Shortcut("self_train", "Ctrl+T", "Self-train: confident unseen-class pixels become labels"),
    Shortcut("run_all", "Ctrl+Shift+R", "Run on all images"),
    Shortcut("cancel", "Esc", "Cancel the running job"),
    Shortcut("settings", "Ctrl+,", "Settings: device and model"),
    Shortcut("help", "F1", "This list"),
    Shortcut("quit", "Ctrl+Q", "Quit"),
)

#: Shown in the help dialog but handled by the canvas itself (no QAction).
MOUSE_HELP: tuple[tuple[str, str], ...] = (
    ("Left drag", "Paint the selected class (brush); drag a box (box → object)"),
    ("Double-click / Enter", "Close the polygon (Backspace removes its last corner, Esc cancels it)"),
    ("Space + drag / middle drag", "Pan"),
    ("Wheel", "Zoom around the cursor"),
    ("Ctrl + wheel", "Brush size"),
    ("1 … 9", "Select class 1 … 9 (0 = background)"),
)

"""``zs3-gui [PATH] [--classes "a,b"] [--model M] [--device D] [--screenshot FILE.png --quit]``.

Arguments are parsed before Qt is imported, so ``zs3-gui --help`` works without a display.
With ``--screenshot`` the window loads PATH, waits for the worker to label the first image,
saves a picture of the window (atomically) and, with ``--quit``, exits: used for the docs.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("app")

SCREENSHOT_TIMEOUT_S = 900


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zs3-gui",
        description="Desktop annotator: open images, type class names, correct the masks, export.")
    parser.add_argument("path", nargs="?", help="an image, a folder of images, or a zs3project.json")
    parser.add_argument("--classes", default="", help='comma-separated class names, e.g. "cat,person"')
    parser.add_argument("--model", default=None, help="'default' or a checkpoint file (.pth)")
    parser.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"), help="compute device")
    parser.add_argument("--screenshot", metavar="FILE.png", help="save a picture of the window once the "
                        "first image is labelled")
    parser.add_argument("--quit", action="store_true", help="exit after --screenshot")
    parser.add_argument("--size", default="1500x920", help="window size for --screenshot (WxH)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.controller import Controller, EngineSettings
    from app.main_window import MainWindow
    from app.style import apply_theme

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("zs3-gui")
    app.setOrganizationName("zs3-annotator")
    apply_theme(app)
    if args.screenshot:
        # A scripted run neither reads nor changes the user's window layout and recent files.
        import tempfile

        scratch = tempfile.TemporaryDirectory(prefix="zs3-gui-")
        qsettings = QSettings(str(Path(scratch.name) / "zs3-gui.ini"), QSettings.Format.IniFormat)
    else:
        qsettings = QSettings("zs3-annotator", "zs3-gui")
    engine = EngineSettings(model=args.model or str(qsettings.value("engine/model", "default")),
                            device=args.device or str(qsettings.value("engine/device", "auto")))
    controller = Controller(engine, autosave=not args.screenshot)
    window = MainWindow(controller, qsettings)
    if args.screenshot:
        width, height = (int(v) for v in args.size.lower().split("x"))
        window.resize(width, height)
    window.show()

    exit_code = {"value": 0}
    errors: list[str] = []
    if args.screenshot:  # a scripted run has no one reading the window: mistakes also go to stderr
        controller.message.connect(lambda text, kind: errors.append(text) if kind == "error" else None)
        controller.class_rejected.connect(lambda text, _suggestions: errors.append(text))
    if args.path:
        if not window.open_paths([args.path]):
            exit_code["value"] = 2
    else:
        controller.start_engine()
    names = [n.strip() for n in args.classes.split(",") if n.strip()]
    if names:
        controller.set_classes_now(names)

    if args.screenshot:
        target = Path(args.screenshot)
        taken = {"done": False}

        def take(reason: str) -> None:
            if taken["done"]:
                return
            taken["done"] = True
            app.processEvents()
            ok = save_screenshot(window, target)
            log.info("screenshot %s (%s): %s", target, reason, "saved" if ok else "FAILED")
            if not ok:
                exit_code["value"] = 1
            elif controller.current_prediction() is None and names:
                exit_code["value"] = exit_code["value"] or 1
            if args.quit:
                QTimer.singleShot(0, window.close)
                QTimer.singleShot(0, app.quit)

        def on_idle() -> None:
            # Idle with a labelled image, or idle after an error: both are worth a picture.
            if controller.current_prediction() is not None or controller.engine_error or not names \
                    or not controller.images:
                QTimer.singleShot(400, lambda: take("ready"))

        controller.runner.idle.connect(on_idle)
        if not controller.runner.busy:
            on_idle()
        QTimer.singleShot(SCREENSHOT_TIMEOUT_S * 1000, lambda: take("timeout"))

    app.exec()
    if args.screenshot:
        scratch.cleanup()
    if errors:
        print(f"zs3-gui: error: {' '.join(errors[0].split())}", file=sys.stderr)
        exit_code["value"] = 2
    return exit_code["value"]


def save_screenshot(window, target: Path) -> bool:
    """Grab the window and write the PNG atomically."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    from core.atomic import atomic_write_bytes

    pixmap = window.grab()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not pixmap.save(buffer, "PNG"):
        return False
    buffer.close()
    try:
        atomic_write_bytes(target, bytes(data.data()))
    except Exception as exc:  # noqa: BLE001 - UserError (unwritable folder) or OSError
        log.error("cannot save the screenshot: %s", exc)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())

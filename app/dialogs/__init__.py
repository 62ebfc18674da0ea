"""Dialogs of the GUI: export, settings, keyboard help, batch progress."""

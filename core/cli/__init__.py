"""The `zs3` command line. Each sub-command lives in its own ``cmd_<name>.py`` module."""

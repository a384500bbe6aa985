"""mltui's views: the Textual dashboard and the command line."""

"""mltui's knowledge as data: the library pages, comparison table, chooser rules and samples.

Written for mltui, crediting the article "TensorFlow or PyTorch? A Guide to Python Machine
Learning Libraries" (first published on Kite) for its facts and figures."""

"""``uvatar app``: a small local web page around ``uvatar reconstruct`` (Gradio, an optional extra)."""

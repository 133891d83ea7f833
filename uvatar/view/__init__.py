"""The local web viewer (``uvatar view``): Gaussians in the browser through viser, with motion playback."""

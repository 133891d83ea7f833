"""Renderers: Gaussians (torch reference tiles; gsplat on CUDA) and meshes (moderngl EGL; torch reference)."""

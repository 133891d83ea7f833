"""Training data: the synthetic 3D rendering branch, the video-clip (2D generation) branch and shards.

Modules (import what you need; importing this package loads nothing heavy):

- :mod:`uvatar.data.subjects` - Anny bodies from Anny's shape distribution, natural poses, faces, hands.
- :mod:`uvatar.data.atlas` - per-texel facts of the UV atlas and Anny's CC0 masks (lips, eyelids...).
- :mod:`uvatar.data.appearance` - skin, face detail, garments, hair and loose clothes painted in UV.
- :mod:`uvatar.data.lighting` - procedural environments, SH fill light, key light.
- :mod:`uvatar.data.cameras` - framings, views around the person, view labels.
- :mod:`uvatar.data.render` - one OpenGL pass per view (moderngl, headless EGL).
- :mod:`uvatar.data.synth` - ``uvatar synth``: subjects -> views -> WebDataset-style shards.
- :mod:`uvatar.data.samples` - the sample format of the shards (documented there), encoders, decoders.
- :mod:`uvatar.data.shards` - deterministic tar shards, manifest, index, ``--shard i/n`` plans.
- :mod:`uvatar.data.clips` - ``uvatar clips``: frames, fits, view labels, directed pair graph.
- :mod:`uvatar.data.prompts` - "filmic" prompts for a video generator.
- :mod:`uvatar.data.stats` - ``uvatar data stats``: counts and a contact sheet.
- :mod:`uvatar.data.photo` - the single synthetic photo of the tracker and novel-view benchmarks.
- :mod:`uvatar.data.commands` - the CLI commands above.

This folder also holds package data (``face_correspondence.*``).
"""

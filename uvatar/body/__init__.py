"""The body model over Anny: canonical mesh, UV atlas, skinning, keypoints, mirror, parts, shell."""

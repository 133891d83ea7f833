"""Training of the learned Dual-UV decoder: data (:mod:`~uvatar.train.data`), losses
(:mod:`~uvatar.train.losses`), the loop (:mod:`~uvatar.train.loop`) and multi-process launch
(:mod:`~uvatar.train.distributed`). Importing this package loads nothing heavy.

Single process::

    uvatar train --config tiny --data synthetic:64 -o runs/tiny

Several processes (DDP; gloo on the CPU, NCCL on CUDA)::

    torchrun --standalone --nproc-per-node 2 -m uvatar.cli train --config tiny --data synthetic:64 -o runs/tiny
"""

"""Network architectures: plain ``nn.Module`` classes, no I/O and no globals.

Every network takes and returns float tensors in [0, 1], NCHW.
"""

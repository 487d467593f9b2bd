"""nn: modules, layers, losses and initialization, with PyTorch's API."""

"""Containers: Sequential (a pipeline), ModuleList and ModuleDict (registered
collections: a plain Python list of layers would hide them from
`parameters()`, `to()` and `state_dict()`)."""
import operator

from .module import Module

__all__ = ["Sequential", "ModuleList", "ModuleDict"]


def _index(container, idx):
    """An int index (negative allowed) checked against len(container)."""
    idx = operator.index(idx)
    if not -len(container) <= idx < len(container):
        raise IndexError(f"{type(container).__name__}: index {idx} is out of range for "
                         f"{len(container)} modules")
    return idx % len(container)


class _ListLike(Module):
    """Shared by Sequential and ModuleList: modules named "0", "1", ..."""

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def _renumber(self, modules):
        self._modules.clear()
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self._slice(idx)
        return list(self._modules.values())[_index(self, idx)]

    def __setitem__(self, idx, module):
        self.add_module(str(_index(self, idx)), module)

    def __delitem__(self, idx):
        modules = list(self._modules.values())
        if isinstance(idx, slice):
            del modules[idx]
        else:
            del modules[_index(self, idx)]
        self._renumber(modules)  # keep the names 0..n-1, as PyTorch does

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)


class Sequential(_ListLike):
    """Apply modules one after another: Sequential(a, b, c)(x) = c(b(a(x))).

    Modules are named "0", "1", ... (so the state dict has `0.weight`), or
    by the keys of a dict given as the single argument."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(modules):
                self.add_module(str(i), module)

    def _slice(self, idx):
        return Sequential(dict(list(self._modules.items())[idx]))  # keeps the names

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


class ModuleList(_ListLike):
    """A list of modules, registered (use it for a variable number of layers)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _slice(self, idx):
        return ModuleList(list(self._modules.values())[idx])  # renumbered 0..

    def __iadd__(self, modules):
        return self.extend(modules)


class ModuleDict(Module):
    """A dict of modules, registered under their keys."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for key, module in items:
            self[key] = module

    def pop(self, key):
        return self._modules.pop(key)

    def clear(self):
        self._modules.clear()

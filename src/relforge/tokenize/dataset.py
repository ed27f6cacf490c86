"""torch datasets over the context sampler, for ``DataLoader(batch_size=None, num_workers=k)``.

One dataset item is one whole batch (the sampler builds batches; rt_pipeline.md §2 "The DataLoader
uses batch_size=None and 2 workers"). Workers receive the sampler by pickling; stores opened from
disk travel as their paths and are memory-mapped again in each worker, so starting workers costs
no copy of the data. Batch contents depend only on (seed, epoch, batch index, rank), never on the
worker that builds them.
"""
from __future__ import annotations

from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from relforge.batch import to_torch
from relforge.tokenize.sampler import ContextSampler


class ContextDataset(Dataset):
    """Map-style: item ``b`` is batch ``b`` of one epoch (``len`` = batches per epoch per rank)."""

    def __init__(self, sampler: ContextSampler, epoch: int = 0):
        self.sampler, self.epoch = sampler, int(epoch)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.sampler.num_batches

    def __getitem__(self, b: int) -> dict:
        if not 0 <= b < len(self):
            raise IndexError(b)
        return to_torch(self.sampler.batch(int(b), self.epoch))


class ContextStream(IterableDataset):
    """Iterable: training steps ``start, start+1, ...`` (``steps`` of them, or forever when None);
    step ``s`` is batch ``s % num_batches`` of epoch ``s // num_batches``. Worker ``w`` of ``k``
    builds steps ``s ≡ w (mod k)``; the DataLoader's round-robin keeps the step order."""

    def __init__(self, sampler: ContextSampler, steps: int | None = None, start: int = 0):
        self.sampler, self.steps, self.start = sampler, steps, int(start)

    def __iter__(self):
        info = get_worker_info()
        w, k = (0, 1) if info is None else (info.id, info.num_workers)
        nb = self.sampler.num_batches
        s = self.start + w
        end = None if self.steps is None else self.start + self.steps
        while end is None or s < end:
            yield to_torch(self.sampler.batch(s % nb, s // nb))
            s += k

    def __len__(self) -> int:
        if self.steps is None:
            raise TypeError("an endless ContextStream has no length")
        return self.steps


def make_loader(sampler: ContextSampler, *, num_workers: int = 2, steps: int | None = None, epoch: int | None = None,
                start: int = 0, prefetch_factor: int = 2, persistent_workers: bool = False) -> DataLoader:
    """A DataLoader over ``sampler``: one epoch (``epoch`` given) or a stream of ``steps`` steps."""
    ds = ContextDataset(sampler, epoch) if epoch is not None else ContextStream(sampler, steps, start)
    kw = dict(prefetch_factor=prefetch_factor, persistent_workers=persistent_workers) if num_workers > 0 else {}
    return DataLoader(ds, batch_size=None, shuffle=False, num_workers=num_workers, **kw)

"""The flight deck as a service: the current dataset and cached KPI tables.

The dashboard, the exports and the CLI all ask this object for numbers. It reloads
the dataset when a new version of the database is published (a load, a rollback, a
catalogue reload), so a running dashboard picks up new data without a restart, and
caches tables per data version so repeated views cost no recomputation.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from kpis.dataset import Dataset, load_dataset
from kpis.measures import SpcOptions, flight_deck_table
from kpis.store import FileIdentity, Reader

TABLE_CACHE_SIZE = 256
DEFAULT_SPC = SpcOptions()


class FlightDeckService:
    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.reader = Reader(self.db_path)
        self._lock = threading.Lock()
        self._dataset: Dataset | None = None
        self._identity: FileIdentity | None = None
        self._tables: OrderedDict[tuple[object, ...], pd.DataFrame] = OrderedDict()

    def dataset(self) -> Dataset:
        """The dataset of the currently published database (reloaded when it changes)."""
        identity = self.reader.identity
        with self._lock:
            if self._dataset is None or identity != self._identity:
                with self.reader.connect() as conn:
                    self._dataset = load_dataset(conn)
                self._identity = identity
                self._tables.clear()
            return self._dataset

    def table(
        self,
        kpi_ids: Sequence[str] | None = None,
        areas: Sequence[str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        suppress: bool = False,
        peer_group: str | None = None,
        spc: SpcOptions | None = DEFAULT_SPC,
    ) -> pd.DataFrame:
        """``flight_deck_table`` for the current data, cached per data version."""
        dataset = self.dataset()
        key = (
            dataset.data_version, id(dataset),
            tuple(kpi_ids) if kpi_ids is not None else None,
            tuple(areas) if areas is not None else None,
            start, end, suppress, peer_group, spc,
        )
        with self._lock:
            cached = self._tables.get(key)
            if cached is not None:
                self._tables.move_to_end(key)
                return cached
        table = flight_deck_table(dataset, kpi_ids, areas, start, end, suppress=suppress,
                                  peer_group=peer_group, spc=spc)
        with self._lock:
            self._tables[key] = table
            while len(self._tables) > TABLE_CACHE_SIZE:
                self._tables.popitem(last=False)
        return table

    def close(self) -> None:
        self.reader.close()

"""Choose service-station (党群服务站) sites exactly: set cover, maximal cover and p-median.

Three classic facility-location models on a demand-by-site cost matrix, solved to proven
optimality (or to a time limit, with the MIP gap reported) by HiGHS:

- :class:`LSCP`, the location set covering problem: open sites at minimum total cost so
  that every demand point a site can reach within the service radius is covered. With all
  site costs equal to 1 this is the fewest stations that give everyone a station within a
  15-minute walk.
- :class:`MCLP`, the maximal covering location problem: with ``p`` new stations, or a
  budget on their cost, cover as many households as possible.
- :class:`PMedian`: with ``p`` new stations, minimise the total household-weighted walking
  distance, each building assigned to one open station.

The interface follows ``spopt.locate``: a model is built by a classmethod from plain
arrays (``from_cost_matrix`` or ``from_coverage``) or from the walking network
(``from_walk_graph``, which only makes the cost matrix and takes the same path, as
spopt's ``from_geodataframe`` does with straight lines), solved by :meth:`solve`, and its
results are attributes. All options are keyword-only and named alike in every model:
``service_radius``, ``weights``, ``p``, ``budget``, ``site_costs``, ``fixed_sites``,
``capacity``, ``reduce``. Unlike spopt, ``p`` counts *new* stations only (existing,
fixed stations are open in addition), demand no site can reach is reported in
``uncoverable`` instead of making the model infeasible, station capacities (households per
station) are supported with single-source assignment, and the model is reduced before
solving (identical demand rows merged, dominated sites dropped, ...). What the reduction
did is reported in ``reduction``; results are always given in the original indices.

Cost matrices
-------------
Rows are demand points (buildings), columns candidate sites. A dense matrix may hold
``np.inf`` for pairs with no walking route. A ``scipy.sparse`` matrix holds only the
reachable pairs: **every explicitly stored entry is a reachable pair**, including a stored
distance of ``0.0`` (a station inside the building), and a missing entry means
unreachable. This is what the network module produces (walking metres, only pairs within
the service radius stored).

Results
-------
After ``solve()`` a model holds, in original indices:

- ``objective``: new-site cost (LSCP), covered weight (MCLP), weighted distance plus any
  opening costs (PMedian);
- ``chosen``: sorted indices of the open sites, fixed ones included;
- ``optimal``, ``gap``, ``status``: proven optimal or not, relative MIP gap (0.0 when
  optimal), the HiGHS model status;
- ``uncoverable``: demand no site can reach, left out of the model;
- ``covered``: per demand, covered (LSCP, MCLP) or assigned (PMedian, capacitated models);
- ``assignment``: per demand, its site or -1;
- ``solve_time``: seconds for reduction plus solve; ``reduction``: what was removed;
- PMedian also ``distance`` (per demand, to its site) and ``total_distance``.

Before ``solve()`` already: ``pairs``, the (demand, site) pairs the model was built on
with their costs, and ``uncoverable``.

Layout
------
:mod:`~planner.siting.inputs` reads matrices into pairs and checks the vectors;
:mod:`~planner.siting.reduction` holds the exact reductions; :mod:`~planner.siting.highs`
talks to HiGHS; :mod:`~planner.siting.model` is what the models share;
:mod:`~planner.siting.lscp`, :mod:`~planner.siting.mclp` and
:mod:`~planner.siting.pmedian` are the models; :mod:`~planner.siting.step` is the
store-level step behind ``planner sites``.
"""

from __future__ import annotations

from planner.siting.highs import NoSolutionError
from planner.siting.lscp import LSCP
from planner.siting.mclp import MCLP
from planner.siting.model import SitingModel
from planner.siting.pmedian import PMedian
from planner.siting.step import MODELS, site_stations

__all__ = ["LSCP", "MCLP", "MODELS", "NoSolutionError", "PMedian", "SitingModel", "site_stations"]

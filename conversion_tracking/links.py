"""Adding the tracking set to outgoing URLs, for links to another domain of the site."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from conversion_tracking.tracking import TrackingSet, without_parameters


def add_tracking_parameters(url: str, tracking: TrackingSet) -> str:
    """``url`` with MCE's parameters for ``tracking`` appended to its query.

    The URL's own query is kept byte for byte, except for MCE parameters already
    in it, which the set's values replace. Raises ``ValueError`` for a URL that
    cannot be split (an unbalanced ``[`` in the host, say).
    """
    scheme, netloc, path, query, fragment = urlsplit(url)
    kept = without_parameters(query)
    added = urlencode(tracking.parameters())
    query = f"{kept}&{added}" if kept else added
    return urlunsplit((scheme, netloc, path, query, fragment))

"""The client's address behind reverse proxies (kernel.middleware.client_ip)."""

import pytest
from django.test import RequestFactory

from jiedao.kernel.middleware import client_ip


def _request(remote="10.0.0.2", forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize(("hops", "forwarded", "expected"), [
    (0, "203.0.113.9", "10.0.0.2"),  # no proxy trusted: the header is the client's own claim
    (1, "203.0.113.9", "203.0.113.9"),
    (1, "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # a client-sent entry to the left is ignored
    (2, "198.51.100.1, 203.0.113.9, 10.0.0.5", "203.0.113.9"),  # two proxies: the outer one's entry
    (2, "203.0.113.9", "10.0.0.2"),  # fewer entries than proxies: only what the nearest one saw
    (1, "not-an-address", "10.0.0.2"),
    (1, "", "10.0.0.2"),
    (1, "2001:db8::1", "2001:db8::1"),
])
def test_client_ip_trusts_only_the_proxies_it_is_told_of(settings, hops, forwarded, expected):
    settings.TRUST_PROXY = hops
    assert client_ip(_request(forwarded=forwarded)) == expected


def test_rate_limits_and_lockouts_read_the_same_address(settings):
    from axes.helpers import get_client_ip_address
    from django_ratelimit.core import _get_ip

    settings.TRUST_PROXY = 1
    request = _request(forwarded="198.51.100.1, 203.0.113.9")
    assert get_client_ip_address(request) == _get_ip(request) == "203.0.113.9"

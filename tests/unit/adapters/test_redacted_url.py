"""Secrets passed as query parameters never reach the recorded URL of a raw response."""

import httpx

from nautilus_ai.adapters.http_ingest import redacted_url


def test_secret_query_parameters_are_replaced_and_others_kept():
    url = httpx.URL("https://api.example.test/v1/metrics/x?a=BTC&api_key=s3cret&i=24h&TOKEN=t0k")

    text = redacted_url(url, ("api_key", "token"))

    assert "s3cret" not in text and "t0k" not in text
    assert "a=BTC" in text and "i=24h" in text
    assert httpx.URL(text).params["api_key"] == "***"


def test_url_without_query_is_unchanged():
    url = httpx.URL("https://api.example.test/v1/news")

    assert redacted_url(url, ("api_key",)) == "https://api.example.test/v1/news"

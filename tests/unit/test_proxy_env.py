"""proxy_from_env: the proxy aiohttp's trust_env would pick, read once per session."""

from drfulfill._wire import proxy_from_env


def test_https_proxy_applies_to_https_urls_unless_no_proxy_names_the_host(monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert proxy_from_env("https://api.digitalriver.com") == "http://proxy.internal:3128"
    assert proxy_from_env("http://127.0.0.1:8787") is None  # HTTPS_PROXY is for https only
    monkeypatch.setenv("NO_PROXY", ".digitalriver.com")
    assert proxy_from_env("https://api.digitalriver.com") is None
    assert proxy_from_env("https://example.com") == "http://proxy.internal:3128"

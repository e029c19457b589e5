"""Drives Castellan's server-rendered sign-in pages over plain HTTP, as a browser would:
follow the authorize URL, fill the form it returns, post it, and stop at the redirect to the
application. Uses only the standard library's HTML parser and requests."""
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse, parse_qs

import requests


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms = []
        self.errors = []
        self._in_error = 0
        self.text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}})
        elif tag == "input" and self.forms and a.get("name") and a.get("type") in ("hidden", "text", "email", "password", None):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        if a.get("role") == "alert":
            self._in_error += 1
            self.errors.append("")
        elif self._in_error:
            self._in_error += 1

    def handle_endtag(self, tag):
        if self._in_error:
            self._in_error -= 1

    def handle_data(self, data):
        self.text.append(data)
        if self._in_error and self.errors:
            self.errors[-1] += data


class Page:
    def __init__(self, response):
        self.response = response
        p = _Forms()
        p.feed(response.text)
        self.forms = p.forms
        self.errors = p.errors
        self.text = " ".join(p.text)

    @property
    def form(self):
        assert self.forms, f"no form on the page (status {self.response.status_code}):\n{self.response.text[:2000]}"
        return self.forms[0]


class Browser:
    """A cookie-keeping client that never follows redirects to the application.
    `headers_fn`, when given, is called for every request and its headers are sent with it
    (a device that proves itself with a fresh device assertion per request)."""

    def __init__(self, verify=True, headers_fn=None):
        self.s = requests.Session()
        self.s.verify = verify
        self.headers_fn = headers_fn

    def _headers(self):
        return self.headers_fn() if self.headers_fn else None

    def open(self, url):
        r = self.s.get(url, allow_redirects=False, headers=self._headers())
        return r

    def submit(self, page, base_url, **fields):
        form = page.form
        data = dict(form["fields"])
        data.update({k: v for k, v in fields.items() if v is not None})
        return self.s.post(urljoin(base_url, form["action"]), data=data, allow_redirects=False, headers=self._headers())


def redirect_params(response):
    """The parameters a redirect (query or fragment) or a form_post page carries."""
    if response.status_code in (302, 303):
        loc = response.headers["Location"]
        u = urlparse(loc)
        raw = u.fragment or u.query
        return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    page = Page(response)
    return dict(page.form["fields"])


def sign_in(browser, auth_uri, username, password, kmsi=False):
    """Opens the authorize URL, signs in, returns the final response (the redirect to the app)."""
    r = browser.open(auth_uri)
    if r.status_code == 302:
        return r  # SSO: no prompt
    assert r.status_code == 200, r.text[:2000]
    page = Page(r)
    return browser.submit(page, auth_uri, username=username, password=password, kmsi="1" if kmsi else None)

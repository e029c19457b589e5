#!/usr/bin/env python3
"""Writes geoip-test.mmdb: a tiny GeoIP2-City-shaped MaxMind DB for Castellan's tests.

Regenerate (only needed when the ranges below change):

    python3 -m venv /tmp/mmdb && /tmp/mmdb/bin/pip install mmdb-writer==0.2.7
    /tmp/mmdb/bin/python crates/castellan-server/tests/data/make_geoip_test_db.py

The ranges are made up for tests (the addresses only ever travel in X-Forwarded-For headers
from a trusted loopback proxy; nothing is sent to them). Coordinates are the cities' centres.
"""
import os

from mmdb_writer import MMDBWriter
from netaddr import IPSet


def city(iso, country, name, lat, lon):
    return {
        "country": {"iso_code": iso, "names": {"en": country}},
        "registered_country": {"iso_code": iso, "names": {"en": country}},
        "city": {"names": {"en": name}},
        "location": {"latitude": float(lat), "longitude": float(lon)},
    }


RANGES = [
    # 10.1.0.0/16 and 2001:db8:1::/48 → Wellington, New Zealand
    (["10.1.0.0/16", "2001:db8:1::/48"], city("NZ", "New Zealand", "Wellington", -41.2866, 174.7756)),
    # 10.2.0.0/16 and 2001:db8:2::/48 → Berlin, Germany
    (["10.2.0.0/16", "2001:db8:2::/48"], city("DE", "Germany", "Berlin", 52.52, 13.405)),
    # 10.3.0.0/16 → New York, United States
    (["10.3.0.0/16"], city("US", "United States", "New York", 40.7128, -74.006)),
    # 10.4.0.0/16 → a country-only record (no city, no coordinates), like GeoLite2-Country
    (["10.4.0.0/16"], {"country": {"iso_code": "FR", "names": {"en": "France"}}}),
]


def main():
    w = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoIP2-City",
        languages=["en"],
        description={"en": "Castellan test GeoIP database (made-up ranges)"},
    )
    for nets, data in RANGES:
        w.insert_network(IPSet(nets), data)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "geoip-test.mmdb")
    w.to_db_file(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

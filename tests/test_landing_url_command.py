from __future__ import annotations

from io import StringIO
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.management import CommandError, call_command

from conversion_tracking.models import ClickThrough
from conversion_tracking.tracking import PARAMETERS

COMMAND = "conversion_tracking_landing_url"
SITE = "https://staging.example.com/offer/"


def landing_url(*args: str) -> str:
    out = StringIO()
    call_command(COMMAND, *args, stdout=out)
    return out.getvalue()


def mce_parameters(url: str) -> dict[str, str]:
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    return {name: value for name, value in pairs if name in PARAMETERS}


def test_defaults_are_mces_documented_example() -> None:
    assert landing_url(SITE) == (
        "https://staging.example.com/offer/?j=2027714&sfmc_sub=151496521"
        "&l=1940_HTML&u=55981221&mid=6421787&jb=1\n"
    )


def test_every_id_can_be_given() -> None:
    url = landing_url(
        SITE,
        *("--job", "42", "--subscriber", "7", "--list", "88_TEXT"),
        *("--url-id", "5", "--mid", "100", "--batch", "36"),
    )

    assert url.strip() == (
        "https://staging.example.com/offer/?j=42&sfmc_sub=7&l=88_TEXT&u=5&mid=100&jb=36"
    )


def test_empty_optional_ids_are_left_out() -> None:
    url = landing_url(SITE, "--list", "", "--url-id", "", "--batch", "")

    assert mce_parameters(url) == {
        "j": "2027714",
        "sfmc_sub": "151496521",
        "mid": "6421787",
    }


def test_the_urls_own_query_and_fragment_are_kept_and_mce_parameters_replaced() -> None:
    url = landing_url("https://shop.example.com/a%20b/?utm_source=news&j=1&page=2#form")

    parts = urlsplit(url.strip())
    assert parts.path == "/a%20b/"
    assert parts.fragment == "form"
    assert parts.query.startswith("utm_source=news&page=2&j=2027714&")
    assert mce_parameters(url)["j"] == "2027714"


def test_a_bare_host_gets_a_root_path() -> None:
    assert landing_url("http://127.0.0.1:8000").startswith("http://127.0.0.1:8000/?j=")


def test_random_picks_new_job_and_subscriber_ids_of_realistic_length() -> None:
    runs = [mce_parameters(landing_url(SITE, "--random")) for _ in range(5)]

    jobs = {run["j"] for run in runs}
    subscribers = {run["sfmc_sub"] for run in runs}
    assert len(jobs) > 1
    assert len(subscribers) > 1
    assert all(len(job) == 7 and job.isascii() and job.isdigit() for job in jobs)
    assert all(len(sub) == 9 and sub.isascii() and sub.isdigit() for sub in subscribers)
    assert {run["mid"] for run in runs} == {"6421787"}


def test_random_keeps_ids_given_explicitly() -> None:
    parameters = mce_parameters(landing_url(SITE, "--random", "--job", "31337"))

    assert parameters["j"] == "31337"
    assert parameters["sfmc_sub"] != "151496521"


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("--job", "\u0662\u0660\u0662\u0667", "j: not 1 to 19 ASCII digits"),
        ("--subscriber", "12a", "sfmc_sub: not 1 to 19 ASCII digits"),
        ("--subscriber", "", "sfmc_sub: missing or empty"),
        ("--mid", "1" * 20, "mid: not 1 to 19 ASCII digits"),
        ("--batch", "9" * 19, "jb: larger than a 64-bit integer"),
        ("--list", "1940_HTML&j=1", "l: not digits with an optional _LETTERS suffix"),
        ("--url-id", " 5", "u: not 1 to 19 ASCII digits"),
    ],
)
def test_ids_the_middleware_would_refuse_are_refused(
    option: str, value: str, reason: str
) -> None:
    with pytest.raises(CommandError, match="would refuse") as excinfo:
        landing_url(SITE, option, value)

    assert reason in str(excinfo.value)


@pytest.mark.parametrize(
    "url",
    ["staging.example.com/offer/", "/offer/", "ftp://example.com/", "http://[::1"],
)
def test_urls_that_are_not_absolute_http_are_refused(url: str) -> None:
    with pytest.raises(CommandError, match="not an absolute http"):
        landing_url(url)


def test_the_default_mid_is_the_lowest_allowed_one(settings) -> None:
    settings.CONVERSION_TRACKING_ALLOWED_MIDS = ["7000001", "100"]

    assert mce_parameters(landing_url(SITE))["mid"] == "100"


def test_a_mid_outside_the_allowed_ones_is_refused(settings) -> None:
    settings.CONVERSION_TRACKING_ALLOWED_MIDS = ["100"]

    with pytest.raises(CommandError, match=r"not in CONVERSION_TRACKING_ALLOWED_MIDS"):
        landing_url(SITE, "--mid", "6421787")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [(), ("--random", "--list", "", "--batch", ""), ("--job", "9223372036854775807")],
)
def test_the_middleware_captures_what_the_command_prints(client, args) -> None:
    url = landing_url("http://testserver/current/?page=2", *args)
    expected = mce_parameters(url)

    response = client.get(url.strip().removeprefix("http://testserver"))

    assert response.content.decode() == repr(expected)
    click = ClickThrough.objects.get()
    assert (click.job_id, click.subscriber_id) == (
        int(expected["j"]),
        int(expected["sfmc_sub"]),
    )

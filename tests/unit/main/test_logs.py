from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Callable, Iterator

import pytest
import structlog

from tessera.main.logs import configure_logging, mask_email
from tessera.shared.http.context import request_id_var

LogLines = Callable[[], list[dict[str, object]]]


@pytest.fixture
def log_lines(capsys: pytest.CaptureFixture[str]) -> Iterator[LogLines]:
    configure_logging("INFO")

    def read() -> list[dict[str, object]]:
        return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]

    yield read
    structlog.contextvars.clear_contextvars()


def test_every_line_is_json_with_the_standard_fields_and_request_id(log_lines: LogLines) -> None:
    structlog.contextvars.bind_contextvars(request_id="req-abc")
    structlog.stdlib.get_logger("tessera.test").info("hello", user_id="u1")
    logging.getLogger("sqlalchemy.pool").warning("pool %s", "exhausted")
    first, second = log_lines()
    assert list(first)[:5] == ["timestamp", "level", "logger", "message", "request_id"]
    assert first["message"] == "hello"
    assert first["level"] == "INFO"
    assert first["user_id"] == "u1"
    assert second["logger"] == "sqlalchemy.pool"
    assert second["message"] == "pool exhausted"
    assert second["request_id"] == "req-abc"


def test_the_served_requests_id_is_on_every_line_without_binding_it(log_lines: LogLines) -> None:
    token = request_id_var.set("req-served")
    try:
        structlog.stdlib.get_logger("tessera.test").info("inside")
        logging.getLogger("sqlalchemy.pool").warning("also inside")
    finally:
        request_id_var.reset(token)
    structlog.stdlib.get_logger("tessera.test").info("outside")
    inside, also, outside = log_lines()
    assert inside["request_id"] == also["request_id"] == "req-served"
    assert "request_id" not in outside


def test_secrets_tokens_and_emails_never_reach_the_output(log_lines: LogLines) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    structlog.stdlib.get_logger("tessera.test").info(
        "login by alice@example.com",
        password="hunter2-secret",
        refresh_token="rt-value",
        headers={"Authorization": f"Bearer {jwt}"},
        dsn="postgresql://app:db-pass@db/tessera",
    )
    logging.getLogger("library").info("token %s for bob@example.org", jwt)
    text = json.dumps(log_lines())
    for secret in ("hunter2-secret", "rt-value", jwt, "db-pass", "alice@", "bob@"):
        assert secret not in text
    assert "a***@example.com" in text
    assert "[REDACTED]" in text


def test_exceptions_are_logged_as_one_line_with_the_traceback(log_lines: LogLines) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        structlog.stdlib.get_logger("tessera.test").exception("failed")
    (line,) = log_lines()
    assert line["level"] == "ERROR"
    assert "ValueError: boom" in str(line["exception"])


def wide(text: str) -> str:
    """`text` in fullwidth forms (ASCII letters, digits, `@` and `.` alike)."""
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


# Email masking in any script (issue 18: non-ASCII, internationalised-domain and fullwidth
# addresses used to be logged in full). Letters of each script, a few with combining marks.
SCRIPTS = {
    "latin": "abcdefghijklmnopqrstuvwxyzàéîõüçñøß",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщыэюя",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωάέή",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
    "devanagari": "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसहािीुूेैोौं",
    "tamil": "அஆஇஈஉஊஎஏஐஒஓகஙசஞடணதநபமயரலவழளறனாிீுூெேை",
    "thai": "กขคฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮะาำเแโใไ",
    "han": "用户名字电子邮件地址测试例子中国香港台湾广告",
    "kana": "あいうえおかきくけこさしすせそアイウエオカキクケコサシスセソー",
    "hangul": "가나다라마바사아자차카타파하글한국어",
    "georgian": "აბგდევზთიკლმნოპჟრსტუფქღყშჩცძწჭხჯჰ",
    "ethiopic": "ሀለሐመሠረሰሸቀበተቸኀነኘአከኸወዐዘዠየደጀገጠጨጰጸፀፈፐ",
    "fullwidth": wide("abcdefghijklmnopqrstuvwxyz0123"),
}
AT_SIGNS = ("@", "\uff20", "\ufe6b")  # ASCII, fullwidth, small
DOTS = (".", "\uff0e", "\u3002", "\uff61")  # ASCII, fullwidth, ideographic, halfwidth
AROUND = (
    ("login by ", " failed"),
    ("<", ">"),
    ("(", ")."),
    ('"', '"'),
    ("email=", ","),
    ("", ""),
    ("to: ", "\n"),
    ("[", "]"),
    ("mailto:", "?subject=x"),
)


def _word(rng: random.Random, letters: str, size: int) -> str:
    return "".join(rng.choice(letters) for _ in range(size))


def _domain(rng: random.Random, letters: str) -> str:
    labels = [_word(rng, letters, rng.randint(2, 10)) for _ in range(rng.randint(2, 3))]
    form = rng.choice(("u-label", "a-label", "ascii"))
    if form == "a-label":  # the xn-- form an IDN takes on the wire
        labels = ["xn--" + label.encode("punycode").decode("ascii") for label in labels]
    elif form == "ascii":
        labels[-1] = _word(rng, SCRIPTS["latin"][:26], 3)
    return rng.choice(DOTS).join(labels)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_addresses_are_masked_whatever_their_script(script: str) -> None:
    rng = random.Random(f"mask-{script}")
    letters = SCRIPTS[script]
    for _ in range(500):
        local = _word(rng, letters, rng.randint(1, 12))
        at, domain = rng.choice(AT_SIGNS), _domain(rng, rng.choice([letters, SCRIPTS["latin"]]))
        before, after = rng.choice(AROUND)
        logged = mask_email(f"{before}{local}{at}{domain}{after}")
        assert logged == f"{before}{local[0]}***{at}{domain}{after}", (local, domain)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("пользователь@пример.рф", "п***@пример.рф"),
        ("user@xn--e1afmkfd.xn--p1ai", "u***@xn--e1afmkfd.xn--p1ai"),
        ("josé@bücher.example", "j***@bücher.example"),
        (wide("alice@example.com"), wide("a") + "***" + wide("@example.com")),
        (wide("alice") + "@example.com", wide("a") + "***@example.com"),
        ("用户@例子。广告", "用***@例子。广告"),
        ("उपयोगकर्ता@उदाहरण.भारत", "उ***@उदाहरण.भारत"),
        ("?email=alice%40example.com&next=/", "?email=a***%40example.com&next=/"),
        ('"john doe"@example.com', '"***@example.com'),
        ("two: a.b+tag@example.com, ünï@例え.テスト", "two: a***@example.com, ü***@例え.テスト"),
    ],
)
def test_known_shapes_of_address_are_masked(text: str, masked: str) -> None:
    assert mask_email(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "no address here",
        "a@b",
        "version 1@2.3",
        "postgresql://app:***@db/tessera",
        "@example.com",
        "50%40 off",
        "user@localhost",
    ],
)
def test_text_without_an_address_is_left_alone(text: str) -> None:
    assert mask_email(text) == text


def test_unicode_addresses_never_reach_the_log_output(log_lines: LogLines) -> None:
    addresses = [
        "пользователь@пример.рф",
        wide("alice@example.com"),
        "用户@xn--fsqu00a.xn--3lr804guic",
        "ελένη@παράδειγμα.δοκιμή",
    ]
    log = structlog.stdlib.get_logger("tessera.test")
    for address in addresses:
        log.warning("failed login", email=address)
        logging.getLogger("library").warning("sent to %s", address)
    text = json.dumps(log_lines(), ensure_ascii=False)
    for address in addresses:
        local = re.split("[@\uff20]", address)[0]
        assert local[1:] not in text, address
        assert f"{local[0]}***" in text

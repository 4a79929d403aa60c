from __future__ import annotations

import pytest

from tessera.features.identity.domain.errors import WeakPassword
from tessera.features.identity.domain.password_policy import (
    MAX_LENGTH,
    MIN_LENGTH,
    check_password,
    common_passwords,
)

EMAIL = "alice@example.com"


def refusal(password: str, *, email: str = EMAIL) -> WeakPassword:
    with pytest.raises(WeakPassword) as caught:
        check_password(password, email=email)
    assert caught.value.field == "password"
    return caught.value


@pytest.mark.parametrize(
    "password",
    [
        "x7#kQp2v",  # exactly 8
        "k" * 127 + "Z",  # exactly 128
        " passphrase ",  # leading and trailing spaces are part of it
        "correct horse battery staple",
        "🔐🦊🌊🎲🚲🍋🧭🪐",  # 8 emoji, one code point each
        "我的密码很长很安全",  # CJK
        "пароль-для-теста",
    ],
)
def test_a_password_within_the_policy_is_accepted(password: str) -> None:
    check_password(password, email=EMAIL)


def test_seven_characters_are_too_few() -> None:
    error = refusal("x7#kQp2")
    assert f"at least {MIN_LENGTH} characters" in error.message
    assert MIN_LENGTH == 8


def test_length_counts_characters_not_bytes() -> None:
    refusal("🔐🦊🌊🎲🚲🍋🧭")  # 7 emoji are 28 bytes in UTF-8, still too short
    check_password("é" * 64, email=EMAIL)  # 128 bytes, 64 characters


def test_spaces_count_towards_the_length_untrimmed() -> None:
    check_password("   abc  ", email=EMAIL)  # 8 characters once the spaces count


def test_129_characters_are_too_many() -> None:
    error = refusal("k" * 128 + "Z")
    assert "at most 128 characters" in error.message
    assert MAX_LENGTH == 128


def test_a_huge_password_is_refused_for_its_length() -> None:
    error = refusal("a" * 1_000_000)
    assert "at most" in error.message


@pytest.mark.parametrize("password", [EMAIL, "Alice@Example.com", "ALICE@EXAMPLE.COM"])
def test_the_email_itself_is_refused_in_any_case(password: str) -> None:
    error = refusal(password)
    assert "email" in error.message


def test_the_email_with_a_space_added_is_a_different_password() -> None:
    check_password(EMAIL + " ", email=EMAIL)


@pytest.mark.parametrize(
    "password", ["password1", "iloveyou1", "qwertyuiop", "trustno1", "PASSWORD1", "TrustNo1"]
)
def test_a_common_password_is_refused_in_any_case(password: str) -> None:
    error = refusal(password)
    assert "common" in error.message


def test_a_common_password_with_a_space_added_is_not_the_common_one() -> None:
    check_password("password1 ", email=EMAIL)


def test_the_refused_rule_is_named_in_the_details() -> None:
    assert refusal("short").details == {"rule": "min_length"}
    assert refusal("x" * 129).details == {"rule": "max_length"}
    assert refusal(EMAIL).details == {"rule": "not_email"}
    assert refusal("password1").details == {"rule": "not_common"}


def test_the_shipped_list_holds_thousands_of_lower_cased_passwords() -> None:
    passwords = common_passwords()
    assert len(passwords) >= 4000
    assert {"password1", "iloveyou1", "qwertyuiop", "trustno1"} <= passwords
    assert all(p == p.lower() and not p.startswith("#") for p in passwords)
    assert common_passwords() is passwords  # read once

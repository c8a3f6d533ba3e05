import pytest

from berth.iam.tenancy import RegistryAddress, Tenancy

DEFAULT_ACCOUNT = "111122223333"
TENANCY = Tenancy("localhost", ("us-east-1", "eu-west-1", "ap-southeast-2"), "us-east-1",
                  DEFAULT_ACCOUNT)
DEFAULT = RegistryAddress(DEFAULT_ACCOUNT, "us-east-1")


@pytest.mark.parametrize("host, expected", [
    ("123456789012.dkr.ecr.us-east-1.localhost:5000", RegistryAddress("123456789012", "us-east-1")),
    ("123456789012.dkr.ecr.us-east-1.localhost", RegistryAddress("123456789012", "us-east-1")),
    ("123456789012.dkr.ecr.eu-west-1.localhost:443", RegistryAddress("123456789012", "eu-west-1")),
    ("123456789012.DKR.ECR.EU-WEST-1.LOCALHOST:5000", RegistryAddress("123456789012", "eu-west-1")),
    ("123456789012.Dkr.Ecr.Ap-SouthEast-2.LocalHost", RegistryAddress("123456789012",
                                                                      "ap-southeast-2")),
])
def test_registry_host_names_address_that_registry(host, expected):
    assert TENANCY.address_of(host) == expected


@pytest.mark.parametrize("host", [
    None, "", "127.0.0.1:5000", "127.0.0.1", "localhost", "localhost:5000", "LOCALHOST:5000",
    "[::1]:5000", "[::1]", "::1", "[2001:db8::1]:443",
    "registry.example.com", "registry.example.com:5000",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "123456789012.dkr.ecr.us-east-1.example.com:5000",
    "123456789012.dkr.ecr.us-east-1.notlocalhost",  # the domain must be a whole label suffix
    "dkr.ecr.us-east-1.localhost",
    "x.123456789012.dkr.ecr.us-east-1.localhost",
    "123456789012.ecr.dkr.us-east-1.localhost",
    "123456789012.api.ecr.us-east-1.localhost",
])
def test_plain_hosts_name_no_registry(host):
    """A plain host addresses the caller's own registry: which, the gate knows once the
    caller is known."""
    assert TENANCY.address_of(host) is None


@pytest.mark.parametrize("account", ["12345678901", "1234567890123", "12345678901a",
                                     "abcdefghijkl", "", "-12345678901", "١٢٣٤٥٦٧٨٩٠١٢"])
def test_malformed_account_ids_are_plain_hosts(account):
    assert TENANCY.address_of(f"{account}.dkr.ecr.us-east-1.localhost:5000") is None


@pytest.mark.parametrize("region", ["us-west-2", "xx-nowhere-9", "useast1", "eu-west-1a"])
def test_unknown_region_under_the_domain_is_named_but_not_served(region):
    found = TENANCY.address_of(f"123456789012.dkr.ecr.{region}.localhost:5000")
    assert found == RegistryAddress("123456789012", region)
    assert not TENANCY.serves(found)
    assert TENANCY.serves(RegistryAddress("123456789012", "eu-west-1"))


def test_domain_with_several_labels_and_mixed_case():
    tenancy = Tenancy("Registry.Example.COM", ("us-east-1",), "us-east-1", DEFAULT_ACCOUNT)
    assert tenancy.address_of("123456789012.dkr.ecr.us-east-1.registry.example.com") == (
        RegistryAddress("123456789012", "us-east-1"))
    assert tenancy.address_of("123456789012.dkr.ecr.us-east-1.example.com") is None


def test_default_address():
    assert TENANCY.default == DEFAULT
    tenancy = Tenancy("localhost", ("us-east-1", "eu-west-1"), "eu-west-1", "444455556666")
    assert tenancy.default == RegistryAddress("444455556666", "eu-west-1")


def test_a_plain_host_is_the_callers_own_registry_in_its_credentials_region():
    assert TENANCY.own_registry("123456789012", "eu-west-1") == (
        RegistryAddress("123456789012", "eu-west-1"))
    # A token minted before tokens named their region: the default region.
    assert TENANCY.own_registry("123456789012", None) == (
        RegistryAddress("123456789012", "us-east-1"))
    assert TENANCY.own_registry(DEFAULT_ACCOUNT, None) == DEFAULT


def test_names_in_a_registry():
    address = RegistryAddress("123456789012", "eu-west-1")
    assert address.repository_arn("team/app") == (
        "arn:aws:ecr:eu-west-1:123456789012:repository/team/app")
    assert address.repository_arn("*") == "arn:aws:ecr:eu-west-1:123456789012:repository/*"
    assert address.host("localhost") == "123456789012.dkr.ecr.eu-west-1.localhost"
    assert TENANCY.address_of(address.host("localhost") + ":5000") == address


@pytest.mark.parametrize("regions, default, message", [
    (("us-east-1", "moon-base"), "us-east-1", "'moon-base' is not a region name"),
    (("US-EAST-1",), "US-EAST-1", "is not a region name"),
    (("us-east-1 ",), "us-east-1", "is not a region name"),
    (("us-east-1",), "eu-west-1", "default region 'eu-west-1' is not among"),
    ((), "us-east-1", "is not among"),
])
def test_tenancy_validation(regions, default, message):
    with pytest.raises(ValueError, match=message):
        Tenancy("localhost", regions, default, DEFAULT_ACCOUNT)

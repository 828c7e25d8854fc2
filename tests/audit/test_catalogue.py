from __future__ import annotations

from audit.catalogue import PRODUCTS, RESOURCE_TYPES, LocalityKind, methods, product


def test_catalogue_has_at_least_twelve_products_alphabetical_by_title():
    assert len(PRODUCTS) >= 12
    titles = [p.title for p in PRODUCTS]
    assert titles == sorted(titles, key=str.lower)


def test_every_method_maps_to_a_known_resource_type():
    for p in PRODUCTS:
        for method in p.methods:
            assert p.resource_type_of(method) in RESOURCE_TYPES, (p.name, method)


def test_global_products_are_filed_under_fr_par():
    globals_ = {p.name for p in PRODUCTS if p.locality_kind is LocalityKind.GLOBAL}
    assert {"iam", "account", "edge-services"} <= globals_
    assert all(p.regions == ("fr-par",) for p in PRODUCTS if p.is_global)


def test_methods_follow_the_product():
    assert "CreateSecret" in methods("secret-manager")
    assert "CreateAPIKey" not in methods("secret-manager")
    assert "CreateAPIKey" in methods()
    assert methods("no-such-product") == ()
    assert product("secret-manager").service_of("RestoreSecret").name == "scaleway.secret_manager.v1beta1.Api"

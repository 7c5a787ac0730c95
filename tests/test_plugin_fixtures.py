"""The ``sphere_harness`` pytest plugin, used from a separate test project (pytester), as a user would."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_fixtures_work_in_a_separate_project(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user_project="""
        import ssl

        import httpx
        import pytest

        from simulator.control import create_tenant


        def test_seed_workflow(run_scenario):
            result = run_scenario("enable-trust", seed=7)
            assert result.passed, result.failed_step
            assert result.variables["entry"]["verified"] is True
            assert [step.outcome for step in result.steps] == ["passed"] * 11


        def test_plain_httpx_reaches_the_fake(fake_cloud):
            access = create_tenant(fake_cloud, name="Contoso")
            tenants = httpx.get(
                "https://prod.core.sphere.azure.net/v2/tenants",
                headers={"Authorization": f"Bearer {access.token}"},
            ).json()
            assert [t["Id"] for t in tenants] == [access.tenant_id]


        def test_each_test_gets_a_fresh_world(fake_cloud):
            assert fake_cloud.sphere.tenants == {}


        @pytest.mark.served
        def test_served_world(served_cloud):
            sphere = served_cloud.endpoints["sphere"]
            response = httpx.get(
                f"{sphere['legacy_url']}/tenants",
                headers={"Authorization": f"Bearer {sphere['token']}"},
                verify=ssl.create_default_context(cafile=served_cloud.ca_bundle),
            )
            assert response.status_code == 200
            assert response.json()[0]["Id"] == sphere["tenant_id"]


        @pytest.mark.fake_only
        def test_needs_the_control_surface(fake_cloud):
            fake_cloud.clock.advance(days=1)


        def test_fake_world_holds_a_tenant_and_an_app(fake_world):
            tenants = httpx.get(
                "https://prod.core.sphere.azure.net/v2/tenants",
                headers={"Authorization": f"Bearer {fake_world.tenant.token}"},
            ).json()
            assert tenants[0]["Id"] == fake_world.tenant.tenant_id
            app = fake_world.app
            groups = httpx.get(
                f"https://{app.subdomain}.azureiotcentral.com/api/enrollmentGroups?api-version=2022-07-31",
                headers={"Authorization": app.api_token},
            )
            assert groups.status_code == 200 and groups.json() == {"value": []}


        @pytest.mark.parametrize("fake_cloud_settings", [{"central": {"code_reuse": True}}])
        @pytest.mark.parametrize("fake_cloud_seed", [41])
        def test_a_test_chooses_the_world_s_seed_and_settings(fake_world, fake_cloud):
            assert fake_cloud.seed == 41 and fake_cloud.settings.central.code_reuse is True
            assert fake_cloud.state()["settings"] == {"central": {"code_reuse": True}}


        def test_the_default_world_has_default_settings(fake_cloud):
            assert fake_cloud.seed == 0 and fake_cloud.state()["settings"] == {}
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error::pytest.PytestUnknownMarkWarning")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(["sphere-harness * (default target fake)"])


def test_fake_only_tests_are_skipped_on_the_live_target(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.fake_only
        def test_travels_the_clock():
            raise AssertionError("must not run on live")

        def test_wire_only():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--harness-target", "live", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*fake-only test: the live target has no simulator control surface*"])

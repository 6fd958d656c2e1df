"""Names and labels, on data: what is made is parsed back to what made it."""

from __future__ import annotations

import pytest

from pipeline import job_names, names
from pipeline.deploy.dns import project_of
from pipeline.model import Color, Trigger
from pipeline.names import Role, RunRef

PROJECTS = ["shop", "a", "my-run-app", "run", "x-run1"]


def test_app_container_and_its_labels() -> None:
    assert names.app_container("shop", Color.BLUE) == "pushdock-shop-blue"
    assert names.app_hostname("shop", Color.GREEN) == "shop-green"
    labels = names.app_labels("shop", Color.GREEN, "abc", "7")
    assert labels == {"pushdock.project": "shop", "pushdock.color": "green",
                      "pushdock.sha": "abc", "pushdock.run": "7", "pushdock.role": "app"}
    assert names.color_of_labels(labels) is Color.GREEN
    assert names.role_of_labels(labels) is Role.APP
    assert names.run_of_labels(labels) == RunRef("shop", "7")


def test_labels_that_are_not_pushdock_s() -> None:
    assert names.color_of_labels({"pushdock.color": "red"}) is None
    assert names.color_of_labels({}) is None
    assert names.role_of_labels({"pushdock.role": "db"}) is None
    assert names.run_of_labels({"pushdock.run": "7"}) is None
    assert names.run_of_labels({"pushdock.project": "shop", "pushdock.run": ""}) is None


@pytest.mark.parametrize("role", list(Role))
def test_run_labels_and_their_filters(role: Role) -> None:
    labels = names.run_labels("shop", "12", role)
    assert names.run_of_labels(labels) == RunRef("shop", "12")
    assert names.role_of_labels(labels) is role
    # A Docker label filter "k=v" matches exactly the labels made with k: v.
    assert {tuple(f.split("=", 1)) for f in names.run_filters("shop", "12", role)} \
        == set(labels.items())
    assert names.run_filters("shop", "12") == ["pushdock.run=12", "pushdock.project=shop"]


def test_app_filters() -> None:
    assert names.app_filters() == ["pushdock.role=app"]
    assert names.app_filters("shop") == ["pushdock.role=app", "pushdock.project=shop"]
    assert names.project_filter("shop") == "pushdock.project=shop"
    assert names.apps_network_labels() == {"pushdock.role": "apps"}


def test_a_run_s_network_and_containers() -> None:
    assert names.run_network("shop", "3") == "pushdock-shop-run3"
    assert names.step_container("shop", "3", "unit") == "pushdock-shop-run3-unit"
    assert names.service_container("shop", "3", "db") == "pushdock-shop-run3-svc-db"
    assert names.image_labels("shop", "abc") == {"pushdock.project": "shop",
                                                 "pushdock.sha": "abc"}


@pytest.mark.parametrize("project", PROJECTS)
@pytest.mark.parametrize("run_id", ["1", "42", names.local_run_id(4242)])
def test_workspace_round_trip(project: str, run_id: str) -> None:
    made = names.workspace_name(project, run_id)
    assert names.parse_workspace_name(made) == RunRef(project, run_id)


@pytest.mark.parametrize("name", ["shop", "shop-run", "-run5", "shop-run5-x", ".lock"])
def test_other_directories_are_no_workspace(name: str) -> None:
    assert names.parse_workspace_name(name) is None


def test_queued_and_local_run_ids() -> None:
    assert names.local_run_id(4242) == "local4242"
    assert not names.is_queued_run_id(names.local_run_id(4242))
    assert names.is_queued_run_id("17")


@pytest.mark.parametrize("project", PROJECTS)
def test_image_tag_round_trip(project: str) -> None:
    sha = "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"
    tag = names.image_tag(project, sha)
    assert tag == f"{project}:{sha}"
    assert names.image_sha(project, tag) == sha
    assert names.image_sha(project + "x", tag) is None
    assert names.image_sha(project, f"{project}x:{sha}") is None
    assert names.image_sha(project, f"{project}:") is None


@pytest.mark.parametrize("project", PROJECTS)
def test_route_id_round_trip(project: str) -> None:
    assert names.route_id(project) == f"pushdock-{project}"
    assert names.route_project(names.route_id(project)) == project


@pytest.mark.parametrize("ident", [None, 3, "", "pushdock-", "caddy-shop", "shop"])
def test_other_route_ids(ident: object) -> None:
    assert names.route_project(ident) is None


@pytest.mark.parametrize("project", PROJECTS)
def test_upstream_name_round_trip(project: str) -> None:
    name = names.upstream_name(project)
    assert name == f"{project}.pushdock."
    # The resolver sees the name without its root dot.
    assert project_of(name.removesuffix(".")) == project


def test_names_outside_the_zone() -> None:
    assert project_of("pushdock") == ""
    assert project_of("shop.example.com") is None
    assert project_of("notpushdock") is None


def test_rq_names() -> None:
    assert job_names.run_job_id("5") == "run-5"
    assert job_names.status_job_id("5") == "status-5"
    assert job_names.worker_prefix("host1") == "pushdock-host1-"


@pytest.mark.parametrize("trigger", list(Trigger))
def test_triggers_keep_their_recorded_values(trigger: Trigger) -> None:
    assert Trigger(trigger.value) is trigger
    assert f"{trigger}" == trigger.value  # what records and pages get


def test_trigger_values() -> None:
    # Values already in records: changing one would orphan them.
    assert [t.value for t in Trigger] == ["push", "local", "manual", "rollback", "api",
                                          "status page", "rerun", "schedule", "pull_request"]
    assert Trigger.rerun_of("12") == "rerun of #12"


def test_a_pull_requests_images_are_named_and_labelled_apart() -> None:
    sha = "a" * 40
    assert names.image_tag("shop", sha) == f"shop:{sha}"
    assert names.image_tag("shop", sha, 3) == f"shop/pull-3:{sha}"
    labels = names.image_labels("shop", sha, 3)
    assert labels["pushdock.pull-request"] == "3"
    assert names.deployable(names.image_labels("shop", sha))
    assert not names.deployable(labels)


# -- previews (DESIGN.md §9.4) ----------------------------------------------------------------
@pytest.mark.parametrize("project", ["shop", "a", "my-run-app", "x-pr1", "shop-"])
def test_a_preview_name_is_parsed_back_to_its_project(project: str) -> None:
    app = names.preview_app(project, 12)
    assert app == f"{project}--pr12"
    assert names.preview_of(app) == names.PreviewRef(project, 12)
    assert names.is_app_name(app) and not names.is_project_name(app)
    assert project_of(f"{app}.pushdock.") == app  # the resolver answers for it


def test_no_project_is_named_like_a_preview() -> None:
    assert not names.is_project_name("shop--pr1")
    assert not names.is_project_name("a--b")
    assert names.is_project_name("a-b")
    assert names.preview_of("shop") is None
    for name in ["shop--pr", "shop--pr01", "shop--prx", "--pr1", "Shop--pr1", "a--b--pr1"]:
        assert names.preview_of(name) is None, name
        assert not names.is_app_name(name), name


def test_a_preview_name_fits_a_dns_label_or_there_is_none() -> None:
    longest = "p" * (63 - len("--pr123"))
    assert names.preview_app(longest, 123) == f"{longest}--pr123"
    assert len(names.preview_app(longest, 123) or "") == 63
    assert names.preview_app(longest, 1234) is None
    assert names.preview_app(longest + "p", 123) is None
    assert names.preview_app("shop", 0) is None

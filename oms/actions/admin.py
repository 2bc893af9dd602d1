"""Admin building blocks shared by the state-machine admins (packages, transfers): read-only
inlines and admin actions that run a declared action through the engine."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from oms.actions.actors import user_actor
from oms.actions.declaration import Action
from oms.actions.engine import Entry, Machine, Outcome, act
from oms.actions.forms import action_form_class

MAX_MESSAGES = 20


class ReadOnlyTabularInline(admin.TabularInline):
    """An inline that shows ``fields`` and lets nobody add, change or delete rows."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False


def make_admin_action(name: str, label: str, noun: str):
    """Return an admin action function running ``ModelAdmin.run_action(…, name)``."""

    def run(modeladmin, request, queryset):
        return modeladmin.run_action(request, queryset, name)

    run.__name__ = f"action_{name}"
    run.short_description = f"{label} (selected {noun})"
    return run


def admin_actions_for(machine: Machine, noun: str) -> list:
    """The admin actions of every action a staff operator may run and that is offered in admin
    (``Action.admin``), in declaration order."""
    return [make_admin_action(name, action.label, noun) for name, action in machine.actions.items()
            if action.may_run("staff") and action.admin]


class EngineActionsMixin:
    """Admin actions that run a declared action on the selected rows through the engine
    (``oms.actions.engine.act``), as the operator (``user_actor``), in one transaction. An
    action asking for input first shows its form (``templates/admin/action_form.html``,
    derived from its input). A refused row is reported; the others go on.

    An aggregate whose own entry point does more than ``act`` (e.g. transfers lock their
    packages first) overrides ``act_on``."""

    machine: Machine

    def act_on(self, name: str, entries: Sequence[Entry], *, actor) -> list[Outcome]:
        return act(self.machine, name, entries, actor=actor)

    def run_action(self, request, queryset, name: str):
        action: Action = self.machine.actions[name]
        inputs = {}
        form_class = action_form_class(action) if action.asks_input else None
        if form_class is not None:
            form = form_class(request.POST if "apply" in request.POST else None)
            if not form.is_bound or not form.is_valid():
                return TemplateResponse(request, "admin/action_form.html", {
                    **self.admin_site.each_context(request),
                    "title": action.label, "form": form, "objects": queryset,
                    "action": f"action_{name}", "opts": self.model._meta,
                })
            inputs = form.inputs()
        rows = list(queryset.select_related(None).only("pk", "number").order_by("pk"))
        numbers = {row.pk: row.number for row in rows}
        outcomes = self.act_on(name, [Entry(row.pk, inputs) for row in rows],
                               actor=user_actor(request.user))
        done = sum(outcome.done for outcome in outcomes)
        refused = [f"{numbers[o.key]}: {o.error.detail}" for o in outcomes if o.error is not None]
        if done:
            self.message_user(request, f"{action.label}: {done} done.", messages.SUCCESS)
        for line in refused[:MAX_MESSAGES]:
            self.message_user(request, line, messages.ERROR)
        if len(refused) > MAX_MESSAGES:
            self.message_user(request, f"… and {len(refused) - MAX_MESSAGES} more refused.",
                              messages.ERROR)
        return None

"""The language switcher's endpoint and the Preferences page."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import redirect
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.generic import FormView
from django.views.i18n import set_language

from oms.preferences.forms import OperatorPreferenceForm
from oms.preferences.models import OperatorPreference
from oms.preferences.session import preferences_store


@require_POST
def language_set(request):
    """Django's ``set_language`` (cookie, redirect to ``next``); for a logged-in user the
    choice is also stored as their preference, so it follows them to other sessions."""
    response = set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        preference, _created = OperatorPreference.objects.update_or_create(
            user=request.user, defaults={"language": language}
        )
        preferences_store(request.session, preference)
    return response


class PreferencesView(LoginRequiredMixin, FormView):
    """GET: the user's language and time zone; POST: save them (validated choices)."""

    template_name = "preferences.html"
    form_class = OperatorPreferenceForm

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = OperatorPreference.objects.filter(
            user=self.request.user
        ).first() or OperatorPreference(user=self.request.user)
        return kwargs

    def form_valid(self, form):
        preference = form.save()
        preferences_store(self.request.session, preference)
        if preference.language:
            translation.activate(preference.language)
        messages.success(self.request, _("Preferences saved."))
        return redirect("preferences")

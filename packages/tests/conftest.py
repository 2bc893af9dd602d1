import pytest

from locations.models import OperatorAssignment


@pytest.fixture
def operator_at(client, django_user_model):
    """``operator_at(*locations)``: log the test client in as an operator working at those
    stock locations; returns the client."""
    def login(*locations):
        user = django_user_model.objects.create_user("olivia")
        for location in locations:
            OperatorAssignment.objects.create(user=user, location=location)
        client.force_login(user)
        return client
    return login

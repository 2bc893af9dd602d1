"""``{% load oms_time %}``: ``{{ moment|local_time:location }}`` (``oms.local_time``)."""

from django import template

from oms.local_time import local_time_html

register = template.Library()


@register.filter(is_safe=True)
def local_time(value, where=None):
    """Show ``value`` in the zone of ``where`` (a stock location, a zone name, or nothing for
    the operator's current zone), the zone named: ``2018-05-03 10:15 -03 (America/Sao_Paulo)``."""
    return local_time_html(value, where)

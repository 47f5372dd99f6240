"""Typed keys of notifications' application state."""

from aiohttp import web

from services.common.consumer import ConsumerLoop
from services.notifications.config import NotificationsConfig
from services.notifications.delivery import DeliveryWorker
from services.notifications.store import NotificationStore
from services.notifications.stream import Broadcaster
from services.notifications.webhooks import WebhookRegistry

CONFIG = web.AppKey("config", NotificationsConfig)
STORE = web.AppKey("store", NotificationStore)
WEBHOOKS = web.AppKey("webhooks", WebhookRegistry)
BROADCASTER = web.AppKey("broadcaster", Broadcaster)
DELIVERY = web.AppKey("delivery_worker", DeliveryWorker)
EVENTS_CONSUMER = web.AppKey("events_consumer", ConsumerLoop)

"""Evidence bundles: `watchdog bundle` exports one, `watchdog verify X.zip` checks it offline."""

from watchdog.bundle.check import BundleCheck, verify_bundle
from watchdog.bundle.export import BundleResult, export_bundle, export_bundle_async

__all__ = ["BundleCheck", "BundleResult", "export_bundle", "export_bundle_async", "verify_bundle"]

"""VAST 4.x inline documents (lxml), and a structural check of the elements VAST 4 requires.

:func:`build_vast` writes one ``<Ad>`` per placed ad (``sequence`` set for pods), each an
``<InLine>`` linear video with impression, quartile, complete, click and error trackers, a
``UniversalAdId`` and every media file rendition. No ads gives an empty ``<VAST/>`` (the VAST
"no ad" response).

:func:`vast_structure_errors` checks a document against the structure of VAST 4.x (IAB Tech Lab
VAST 4.1/4.2 — required elements and attributes, cardinalities, value formats); it is what the tests
validate every produced document with, and it is strict about what Marquee writes, not a full XSD.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lxml import etree

VAST_NS = "http://www.iab.com/VAST"
VERSIONS: tuple[str, ...] = ("4.0", "4.1", "4.2")
TRACKING_EVENTS: tuple[str, ...] = ("start", "firstQuartile", "midpoint", "thirdQuartile", "complete")
CATEGORY_AUTHORITY = "https://www.iabtechlab.com/categoryauthority"
_DURATION = re.compile(r"^\d{2}:[0-5]\d:[0-5]\d(\.\d{3})?$")
_URL = re.compile(r"^https?://\S+$")
_KNOWN_EVENTS = {"mute", "unmute", "pause", "resume", "rewind", "skip", "playerExpand", "playerCollapse",
                 "loaded", "start", "firstQuartile", "midpoint", "thirdQuartile", "complete", "otherAdInteraction",
                 "progress", "closeLinear", "creativeView", "acceptInvitation", "adExpand", "adCollapse", "minimize",
                 "close", "overlayViewDuration", "notUsed", "fullscreen", "exitFullscreen"}  # fmt: skip


@dataclass(frozen=True)
class VastMediaFile:
    url: str
    mime: str
    width: int
    height: int
    delivery: str = "progressive"
    bitrate_kbps: int | None = None
    codec: str | None = None


@dataclass(frozen=True)
class VastAd:
    """One inline linear ad. ``tracking`` maps a VAST event name to its URL."""

    ad_id: str
    ad_title: str
    creative_id: str
    duration_s: int
    universal_ad_id: tuple[str, str]  # (idRegistry, value)
    media_files: tuple[VastMediaFile, ...]
    impression_url: str
    tracking: Mapping[str, str]
    ad_serving_id: str
    sequence: int | None = None
    advertiser: str | None = None
    advertiser_domain: str | None = None
    categories: tuple[str, ...] = ()
    error_url: str | None = None
    click_through: str | None = None
    click_tracking: str | None = None
    price_cpm: float | None = None
    currency: str = "USD"
    ad_system: str = "Marquee"
    extensions: Mapping[str, str] = field(default_factory=dict)


def duration_text(seconds: float) -> str:
    """VAST ``HH:MM:SS.mmm``."""
    total_ms = int(round(seconds * 1000))
    h, rem = divmod(total_ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _sub(parent: etree._Element, tag: str, text: str | None = None, *, cdata: bool = False,
         attrib: Mapping[str, str | None] | None = None) -> etree._Element:  # fmt: skip
    el = etree.SubElement(parent, tag, {k: v for k, v in (attrib or {}).items() if v is not None})
    if text is not None:
        el.text = etree.CDATA(text) if cdata else text
    return el


def build_vast(ads: Sequence[VastAd], *, version: str = "4.2") -> bytes:
    """A VAST document (UTF-8 bytes with an XML declaration) holding ``ads`` in order."""
    if version not in VERSIONS:
        raise ValueError(f"version={version!r}: expected one of {', '.join(VERSIONS)}")
    root = etree.Element("VAST", {"version": version}, nsmap={None: VAST_NS})
    for ad in ads:
        attrib: dict[str, str | None] = {"id": ad.ad_id, "adType": "video"}
        if ad.sequence is not None:
            attrib["sequence"] = str(ad.sequence)
        ad_el = _sub(root, "Ad", attrib=attrib)
        inline = _sub(ad_el, "InLine")
        _sub(inline, "AdSystem", ad.ad_system, attrib={"version": "1.0"})
        if ad.error_url:
            _sub(inline, "Error", ad.error_url, cdata=True)
        if ad.extensions:
            exts = _sub(inline, "Extensions")
            for name, value in ad.extensions.items():
                _sub(exts, "Extension", value, attrib={"type": name})
        _sub(inline, "Impression", ad.impression_url, cdata=True, attrib={"id": "marquee"})
        if ad.price_cpm is not None:
            _sub(inline, "Pricing", f"{ad.price_cpm:.4f}", attrib={"model": "CPM", "currency": ad.currency})
        _sub(inline, "AdServingId", ad.ad_serving_id)
        _sub(inline, "AdTitle", ad.ad_title)
        if ad.advertiser:
            _sub(inline, "Advertiser", ad.advertiser, attrib={"id": ad.advertiser_domain})
        for cat in ad.categories:
            _sub(inline, "Category", cat, attrib={"authority": CATEGORY_AUTHORITY})
        creatives = _sub(inline, "Creatives")
        creative = _sub(creatives, "Creative", attrib={"id": ad.creative_id, "sequence": "1", "adId": ad.ad_id})
        _sub(creative, "UniversalAdId", ad.universal_ad_id[1], attrib={"idRegistry": ad.universal_ad_id[0]})
        linear = _sub(creative, "Linear")
        _sub(linear, "Duration", duration_text(ad.duration_s))
        tracking = _sub(linear, "TrackingEvents")
        for event, url in ad.tracking.items():
            _sub(tracking, "Tracking", url, cdata=True, attrib={"event": event})
        if ad.click_through or ad.click_tracking:
            clicks = _sub(linear, "VideoClicks")
            if ad.click_through:
                _sub(clicks, "ClickThrough", ad.click_through, cdata=True, attrib={"id": "marquee"})
            if ad.click_tracking:
                _sub(clicks, "ClickTracking", ad.click_tracking, cdata=True, attrib={"id": "marquee"})
        media = _sub(linear, "MediaFiles")
        for m in ad.media_files:
            _sub(media, "MediaFile", m.url, cdata=True, attrib={
                "delivery": m.delivery, "type": m.mime, "width": str(m.width), "height": str(m.height),
                "bitrate": str(m.bitrate_kbps) if m.bitrate_kbps else None, "codec": m.codec})  # fmt: skip
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# ------------------------------------------------------------------------------------------ structure check


def _children(el: etree._Element, tag: str) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and etree.QName(c).localname == tag]


def vast_structure_errors(document: bytes | str) -> list[str]:
    """Every way ``document`` departs from the VAST 4.x inline-linear structure (empty = valid).

    Checked: root ``VAST`` with ``version`` 4.x (namespace ``http://www.iab.com/VAST`` or none);
    each ``Ad`` has ``id`` and, in a pod, a positive integer ``sequence`` unique in the document;
    ``InLine`` has exactly one ``AdSystem``, ``AdTitle`` and (from 4.1) ``AdServingId``, at least one
    ``Impression`` URL and one ``Creatives`` with at least one ``Creative``; each creative has a
    ``UniversalAdId`` with ``idRegistry`` (required since 4.0) and a ``Linear`` with a
    ``Duration`` in ``HH:MM:SS(.mmm)``, ``MediaFiles`` with at least one ``MediaFile`` carrying
    ``delivery`` (progressive|streaming), ``type``, positive integer ``width``/``height`` and a URL,
    and ``TrackingEvents`` whose ``Tracking`` elements have a known ``event`` and a URL; ``Error``,
    ``ClickThrough`` and ``ClickTracking`` are URLs when present; ``Category`` has ``authority``.
    """
    errors: list[str] = []
    try:
        root = etree.fromstring(document.encode("utf-8") if isinstance(document, str) else document)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    qname = etree.QName(root)
    if qname.localname != "VAST":
        return [f"root element is <{qname.localname}>; expected <VAST>"]
    if qname.namespace not in (None, VAST_NS):
        errors.append(f"namespace {qname.namespace!r}; expected {VAST_NS!r} or none")
    version = root.get("version")
    if version not in VERSIONS:
        errors.append(f"VAST@version={version!r}; expected one of {', '.join(VERSIONS)}")
    ads = _children(root, "Ad")
    sequences: list[int] = []
    for i, ad in enumerate(ads):
        where = f"Ad[{i}]"
        if not ad.get("id"):
            errors.append(f"{where}@id is missing")
        seq = ad.get("sequence")
        if seq is not None:
            if not seq.isdigit() or int(seq) < 1:
                errors.append(f"{where}@sequence={seq!r}; expected a positive integer")
            else:
                sequences.append(int(seq))
        inlines = _children(ad, "InLine")
        if len(inlines) + len(_children(ad, "Wrapper")) != 1:
            errors.append(f"{where} has {len(inlines)} InLine; expected exactly one InLine or Wrapper")
            continue
        if inlines:
            errors += _inline_errors(inlines[0], f"{where}/InLine", version or "")
    if len(ads) > 1 and len(sequences) != len(ads):
        errors.append(f"{len(ads)} ads but {len(sequences)} carry a sequence; expected every ad of a pod to")
    if len(set(sequences)) != len(sequences):
        errors.append(f"Ad sequences {sequences} repeat; expected distinct positions")
    return errors


def _text(el: etree._Element) -> str:
    return (el.text or "").strip()


def _one(parent: etree._Element, tag: str, where: str, errors: list[str]) -> etree._Element | None:
    found = _children(parent, tag)
    if len(found) != 1:
        errors.append(f"{where} has {len(found)} <{tag}>; expected exactly 1")
        return None
    return found[0]


def _inline_errors(inline: etree._Element, where: str, version: str) -> list[str]:
    errors: list[str] = []
    system = _one(inline, "AdSystem", where, errors)
    if system is not None and not _text(system):
        errors.append(f"{where}/AdSystem is empty")
    title = _one(inline, "AdTitle", where, errors)
    if title is not None and not _text(title):
        errors.append(f"{where}/AdTitle is empty")
    if version != "4.0":
        serving = _one(inline, "AdServingId", where, errors)
        if serving is not None and not _text(serving):
            errors.append(f"{where}/AdServingId is empty")
    impressions = _children(inline, "Impression")
    if not impressions:
        errors.append(f"{where} has no <Impression>; expected at least 1")
    for imp in impressions:
        if not _URL.match(_text(imp)):
            errors.append(f"{where}/Impression {_text(imp)!r} is not a URL")
    for err in _children(inline, "Error"):
        if not _URL.match(_text(err)):
            errors.append(f"{where}/Error {_text(err)!r} is not a URL")
    for cat in _children(inline, "Category"):
        if not cat.get("authority"):
            errors.append(f"{where}/Category@authority is missing")
    creatives = _one(inline, "Creatives", where, errors)
    if creatives is None:
        return errors
    creative_list = _children(creatives, "Creative")
    if not creative_list:
        errors.append(f"{where}/Creatives has no <Creative>")
    for j, creative in enumerate(creative_list):
        cw = f"{where}/Creatives/Creative[{j}]"
        uaids = _children(creative, "UniversalAdId")
        if not uaids:
            errors.append(f"{cw} has no <UniversalAdId>; expected at least 1 (VAST 4)")
        for uaid in uaids:
            if not uaid.get("idRegistry"):
                errors.append(f"{cw}/UniversalAdId@idRegistry is missing")
            if not _text(uaid):
                errors.append(f"{cw}/UniversalAdId is empty")
        linear = _one(creative, "Linear", cw, errors)
        if linear is None:
            continue
        lw = f"{cw}/Linear"
        duration = _one(linear, "Duration", lw, errors)
        if duration is not None and not _DURATION.match(_text(duration)):
            errors.append(f"{lw}/Duration {_text(duration)!r}; expected HH:MM:SS or HH:MM:SS.mmm")
        media = _one(linear, "MediaFiles", lw, errors)
        if media is not None:
            files = _children(media, "MediaFile")
            if not files:
                errors.append(f"{lw}/MediaFiles has no <MediaFile>")
            for k, mf in enumerate(files):
                mw = f"{lw}/MediaFiles/MediaFile[{k}]"
                if mf.get("delivery") not in ("progressive", "streaming"):
                    errors.append(f"{mw}@delivery={mf.get('delivery')!r}; expected progressive or streaming")
                if not mf.get("type"):
                    errors.append(f"{mw}@type is missing")
                for dim in ("width", "height"):
                    value = mf.get(dim)
                    if value is None or not value.isdigit() or int(value) <= 0:
                        errors.append(f"{mw}@{dim}={value!r}; expected a positive integer")
                if not _URL.match(_text(mf)):
                    errors.append(f"{mw} {_text(mf)!r} is not a URL")
        events = _children(linear, "TrackingEvents")
        if len(events) > 1:
            errors.append(f"{lw} has {len(events)} <TrackingEvents>; expected at most 1")
        for ev in events:
            for tracking in _children(ev, "Tracking"):
                if tracking.get("event") not in _KNOWN_EVENTS:
                    errors.append(f"{lw}/TrackingEvents/Tracking@event={tracking.get('event')!r} is not a VAST event")
                if not _URL.match(_text(tracking)):
                    errors.append(f"{lw}/TrackingEvents/Tracking {_text(tracking)!r} is not a URL")
        for clicks in _children(linear, "VideoClicks"):
            for tag in ("ClickThrough", "ClickTracking"):
                for el in _children(clicks, tag):
                    if not _URL.match(_text(el)):
                        errors.append(f"{lw}/VideoClicks/{tag} {_text(el)!r} is not a URL")
    return errors

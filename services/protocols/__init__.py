"""Wire protocols of partner-facing endpoints: OpenRTB 2.6 (``openrtb``) and VAST 4 (``vast``)."""

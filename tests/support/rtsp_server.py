#!/usr/bin/python3
"""An RTSP server for tests (GStreamer's gst-rtsp-server through python3-gi).

    rtsp_server.py PORT [--garbage] [--user U --password P] [--size WxH]

Serves rtsp://127.0.0.1:PORT/test: H.264 (x264enc) of a videotestsrc, or with --garbage an
RTP stream whose H.264 payload is random bytes. Prints "READY" on stdout once listening;
runs until killed. Debian: python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly (x264enc).
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--garbage", action="store_true")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--size", default="320x240")
    a = ap.parse_args()
    w, h = a.size.split("x")
    Gst.init(None)
    if a.garbage:
        # Random bytes packed as H.264 RTP: the client connects, then decodes nothing.
        launch = (
            "( fakesrc sizetype=fixed sizemax=1400 filltype=random is-live=true "
            "datarate=200000 ! video/x-h264,stream-format=byte-stream,alignment=au ! "
            "rtph264pay name=pay0 pt=96 )"
        )
    else:
        launch = (
            f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={w},height={h},"
            "framerate=15/1 ! x264enc tune=zerolatency speed-preset=ultrafast "
            "key-int-max=15 threads=1 ! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    if a.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, a.password), token)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_permission_for_role("user", "media.factory.access", True)
        perms.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(perms)
    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        print("cannot listen on port", a.port, file=sys.stderr)
        sys.exit(2)
    print("READY", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()

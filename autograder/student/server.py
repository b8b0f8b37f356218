"""The course's addition to every Jupyter server, a student's or the instructor's: Validate in a thread.

nbgrader's Validate handler runs the notebook inside the server's event loop: while a CNN trains for
Validate, the server answers nobody (not even the save button). This server extension replaces it with
the same handler run in a thread. Enable it instead of nbgrader's:

    jupyter server extension disable nbgrader.server_extensions.validate_assignment
    jupyter server extension enable autograder.student.server
"""
import asyncio
import json
import threading

from nbgrader.server_extensions.validate_assignment.handlers import (
    NbGraderVersionHandler,
    ValidateAssignmentHandler,
)
from tornado import web


class ValidateInThread(ValidateAssignmentHandler):
    """nbgrader's Validate, with the notebook run in a thread: the server keeps answering meanwhile.
    One Validate at a time: nbgrader's Validator changes the process's working directory and
    environment while it runs, which two at once would leave wrong."""

    lock = threading.Lock()

    @web.authenticated
    async def post(self):
        try:
            path = self.get_argument("path")
        except web.MissingArgumentError:
            path = self.get_json_body()["path"]
        output = await asyncio.to_thread(self.validate_alone, path)
        self.finish(json.dumps(output))

    def validate_alone(self, path):
        with self.lock:
            return self.validate_notebook(path)


def _jupyter_server_extension_points():
    return [{"module": "autograder.student.server"}]


def _load_jupyter_server_extension(serverapp):
    webapp = serverapp.web_app
    webapp.settings["root_dir"] = serverapp.root_dir
    base = webapp.settings["base_url"].rstrip("/")
    webapp.add_handlers(".*$", [(f"{base}/assignments/validate", ValidateInThread),
                                (f"{base}/nbgrader_version", NbGraderVersionHandler)])

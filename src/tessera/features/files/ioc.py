from __future__ import annotations

from dishka import Provider, Scope, provide, provide_all

from tessera.features.files.adapters.sql_files import SqlFileRepository
from tessera.features.files.adapters.user_purged_job import PurgedUserFilesJob
from tessera.features.files.application.delete_file import DeleteFile
from tessera.features.files.application.forget_user_files import ForgetUserFiles
from tessera.features.files.application.get_file import GetFile
from tessera.features.files.application.list_files import ListFiles
from tessera.features.files.application.ports import FileRepository
from tessera.features.files.application.presigned_upload import CompleteUpload, StartUpload
from tessera.features.files.application.reconcile_files import ReconcileConfig, ReconcileFiles
from tessera.features.files.application.store_file import StoreFile
from tessera.features.files.application.stored_files import FilesConfig
from tessera.main.settings import Settings


class FilesProvider(Provider):
    scope = Scope.REQUEST

    files = provide(SqlFileRepository, provides=FileRepository)
    use_cases = provide_all(StoreFile, ListFiles, GetFile, DeleteFile, StartUpload, CompleteUpload)
    purged_user_files = provide_all(ForgetUserFiles, PurgedUserFilesJob)
    reconcile = provide(ReconcileFiles)

    @provide(scope=Scope.APP)
    def config(self, settings: Settings) -> FilesConfig:
        return FilesConfig(
            max_file_bytes=settings.file_max_bytes,
            quota_bytes_per_tenant=settings.storage_quota_bytes_per_tenant,
        )

    @provide(scope=Scope.APP)
    def reconcile_config(self) -> ReconcileConfig:
        """The defaults: an hour's grace for orphan objects and past an upload link."""
        return ReconcileConfig()
